import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.config import DEVELOPMENT_SECRET_KEY, validate_production_settings

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k3y-" + "x9Q2mZ7vR4tL8pW1nB6cF0hJ5sD3gK" * 2


def run_manage(*args, **env_overrides):
    unrelated = {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in unrelated}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("kwargs", "complaint"),
    [
        ({"debug": True, "secret_key": STRONG_KEY, "allowed_hosts": ["bridge.example.com"]}, "DEBUG"),
        ({"debug": False, "secret_key": DEVELOPMENT_SECRET_KEY, "allowed_hosts": ["bridge.example.com"]}, "SECRET_KEY"),
        ({"debug": False, "secret_key": "short", "allowed_hosts": ["bridge.example.com"]}, "too short"),
        ({"debug": False, "secret_key": STRONG_KEY, "allowed_hosts": []}, "ALLOWED_HOSTS"),
    ],
)
def test_production_refuses_an_unsafe_setting(kwargs, complaint):
    with pytest.raises(ImproperlyConfigured, match=complaint):
        validate_production_settings(**kwargs)


def test_production_accepts_a_safe_configuration():
    validate_production_settings(debug=False, secret_key=STRONG_KEY, allowed_hosts=["bridge.example.com"])


def test_the_portal_will_not_start_in_production_with_the_development_key():
    result = run_manage("check", PORTAL_ENV="production", ALLOWED_HOSTS="bridge.example.com")
    assert result.returncode != 0
    assert "Refusing to start in production" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_the_portal_will_not_start_in_production_with_debug_on():
    result = run_manage(
        "check", PORTAL_ENV="production", SECRET_KEY=STRONG_KEY, ALLOWED_HOSTS="b.example.com", DEBUG="true"
    )
    assert result.returncode != 0
    assert "DEBUG is on" in result.stderr


def test_a_safe_production_configuration_passes_the_deploy_check_without_warnings():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        PORTAL_ENV="production",
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="bridge.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_a_non_boolean_debug_value_is_refused_with_its_name():
    result = run_manage("check", DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr
