"""`make run [HOST=...] [PORT=...]`: the portal listens where asked, links follow, Ctrl-C stops it all."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.core.management import CommandError, call_command

from portal.management.commands.runportal import child_environment
from tests.worker import ROOT

DEFAULTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]
EVERY_INTERFACE = "0.0.0.0"  # noqa: S104
DEMO_LOGIN = {"username": "developer", "password": "bridge-demo"}
needs_make = pytest.mark.skipif(not shutil.which("make"), reason="no make")


def runportal_line(*arguments: str, env: dict | None = None) -> str:
    """The runportal command that `make run` would start (a dry run, for a virtualenv that is not there)."""
    output = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", "VENV=/nonexistent/venv", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    return next(line for line in output.splitlines() if "runportal" in line)


@needs_make
def test_make_run_listens_on_the_host_and_port_given_on_the_command_line():
    assert runportal_line("HOST=0.0.0.0", "PORT=8080").endswith("manage.py runportal --demo --host 0.0.0.0 --port 8080")


@needs_make
def test_make_run_keeps_its_defaults_when_the_shell_exports_host_or_port():
    env = {**os.environ, "HOST": "workstation.example", "PORT": "1"}  # zsh sets HOST to the machine's name

    assert runportal_line(env=env).endswith("manage.py runportal --demo --host 127.0.0.1 --port 8000")


def test_notification_links_follow_the_chosen_address():
    env = child_environment("127.0.0.1", 8080, {}, DEFAULTS)

    assert env["PORTAL_BASE_URL"] == "http://127.0.0.1:8080"
    assert "ALLOWED_HOSTS" not in env  # 127.0.0.1 is already allowed


def test_a_portal_base_url_that_is_set_is_kept_whatever_the_address():
    env = child_environment(EVERY_INTERFACE, 8080, {"PORTAL_BASE_URL": "https://bridge.example.com"}, DEFAULTS)

    assert env["PORTAL_BASE_URL"] == "https://bridge.example.com"


def test_on_every_interface_links_use_the_machine_name_and_django_accepts_that_name():
    name = socket.gethostname()

    env = child_environment(EVERY_INTERFACE, 8080, {}, DEFAULTS)

    assert env["PORTAL_BASE_URL"] == f"http://{name}:8080"
    assert env["ALLOWED_HOSTS"].split(",") == [*DEFAULTS, name]


def test_an_address_of_this_machine_is_allowed_and_ipv6_is_bracketed():
    assert child_environment("192.0.2.10", 8000, {}, DEFAULTS)["ALLOWED_HOSTS"].endswith(",192.0.2.10")

    env = child_environment("2001:db8::1", 8000, {}, DEFAULTS)

    assert env["PORTAL_BASE_URL"] == "http://[2001:db8::1]:8000"
    assert env["ALLOWED_HOSTS"].endswith(",[2001:db8::1]")


def test_allowed_hosts_that_are_set_are_left_alone():
    env = child_environment(EVERY_INTERFACE, 8080, {"ALLOWED_HOSTS": "bridge.internal"}, DEFAULTS)

    assert env["ALLOWED_HOSTS"] == "bridge.internal"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"port": "80a"}, "PORT '80a' is not a number"),
        ({"port": "70000"}, "PORT 70000 is outside 1-65535"),
        ({"host": "bad host"}, "HOST 'bad host' is not an IP address or a host name"),
        ({"host": "http://x"}, "is not an IP address or a host name"),
    ],
)
def test_a_bad_host_or_port_is_refused_with_the_reason_before_anything_starts(options, message):
    with pytest.raises(CommandError, match=message):
        call_command("runportal", **options)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)


@pytest.mark.worker
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads the children's environment from /proc")
def test_make_runs_portal_migrates_loads_the_demo_serves_on_the_chosen_port_and_ctrl_c_stops_it_all(tmp_path):
    # What `make run PORT=...` runs, on a database and a broker of its own.
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"PORTAL_BASE_URL", "ALLOWED_HOSTS"}}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'bridge.sqlite3'}",
        PORTAL_VAR_DIR=str(tmp_path / "var"),
        CELERY_BROKER_URL="filesystem://localhost/",
        BROKER_DATA_DIR=str(tmp_path / "broker"),
        PYTHONUNBUFFERED="1",
    )
    portal = subprocess.Popen(
        [sys.executable, "manage.py", "runportal", "--demo", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        browser = requests.Session()
        response = None
        while response is None and time.monotonic() < deadline and portal.poll() is None:
            try:
                response = browser.get(f"{url}/", timeout=5)
            except requests.ConnectionError:
                time.sleep(0.5)
        assert response is not None, f"no answer on port {port}"
        assert response.status_code == 200 and 'name="password"' in response.text  # the sign-in page
        signed_in = browser.post(
            response.url,
            data={**DEMO_LOGIN, "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
            headers={"Referer": response.url},
            timeout=30,
        )
        assert signed_in.status_code == 200 and signed_in.url == f"{url}/", signed_in.url
        children = _children(portal.pid)
        while len(children) < 3 and time.monotonic() < deadline:  # worker and beat follow the web server
            time.sleep(0.2)
            children = _children(portal.pid)
        assert len(children) == 3  # web, worker, beat
        assert {_environ(pid).get("PORTAL_BASE_URL") for pid in children} == {url}

        portal.send_signal(signal.SIGINT)
        output, _ = portal.communicate(timeout=60)
    finally:
        if portal.poll() is None:
            portal.kill()
            portal.communicate()

    assert "Demo data ready." in output and f"Bridge is starting at {url}/" in output
    assert portal.returncode == 0 and output.rstrip().endswith("Stopped.")
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]
