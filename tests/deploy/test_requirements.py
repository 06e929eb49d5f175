"""The two requirement sets: the runtime that `make run` and the image install, and the
development tools that `make test` and CI add; and the lock files both are installed from."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEVELOPMENT_TOOLS = {
    "pytest",
    "pytest-django",
    "pytest-xdist",
    "playwright",
    "schemathesis",
    "locust",
    "bandit",
    "pip-audit",
    "ruff",
}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]+\])?==(\S+)$")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """The ``name==version`` lines of a requirements file (its own lines, not those it includes)."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-r "):
            continue
        match = PIN.match(line)
        assert match, f"{path.name}: {line!r} is not pinned with =="
        found[normalized(match.group(1))] = match.group(2)
    return found


def locked(path: Path) -> dict[str, str]:
    """Every package of a lock file, with its version; each must carry hashes."""
    text = path.read_text()
    found = {}
    for match in re.finditer(r"^([a-z0-9][a-z0-9._-]*)==(\S+)(.*?)(?=^\S|\Z)", text, re.MULTILINE | re.DOTALL):
        name, version, rest = match.groups()
        assert "--hash=sha256:" in rest, f"{path.name}: {name} has no hash"
        found[normalized(name)] = version
    return found


def make_dry_run(*arguments: str, env: dict | None = None) -> list[str]:
    """The commands `make` would run (``make -n``), for a virtualenv that does not exist yet."""
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", *arguments, "VENV=/nonexistent/venv"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return result.stdout.splitlines()


def test_the_runtime_requirements_hold_no_test_lint_or_benchmark_tool():
    runtime = pins(ROOT / "requirements.txt")

    assert not DEVELOPMENT_TOOLS & set(runtime)
    assert {"django", "celery", "gunicorn", "mkdocs", "mkdocs-material"} <= set(runtime)


def test_the_development_requirements_include_the_runtime_and_add_the_tools():
    text = (ROOT / "requirements-dev.txt").read_text()

    assert "-r requirements.txt" in text.splitlines()
    assert set(pins(ROOT / "requirements-dev.txt")) == DEVELOPMENT_TOOLS


def test_each_requirements_file_says_at_its_top_what_goes_in_it():
    for name, word in (("requirements.txt", "RUNTIME"), ("requirements-dev.txt", "DEVELOPMENT")):
        first = (ROOT / name).read_text().splitlines()[0]
        assert first.startswith("#") and word in first, name


@pytest.mark.parametrize(
    ("requirements", "lock"),
    [("requirements.txt", "requirements.lock"), ("requirements-dev.txt", "requirements-dev.lock")],
)
def test_the_lock_file_has_every_pin_of_its_requirements_at_the_same_version(requirements, lock):
    pinned = pins(ROOT / requirements)
    if requirements == "requirements-dev.txt":
        pinned |= pins(ROOT / "requirements.txt")
    in_lock = locked(ROOT / lock)

    stale = {name: version for name, version in pinned.items() if in_lock.get(name) != version}

    assert not stale, f"{lock} is out of date for {stale}: run `make lock`"


def test_both_lock_files_agree_on_every_package_they_share():
    runtime, development = locked(ROOT / "requirements.lock"), locked(ROOT / "requirements-dev.lock")

    assert set(runtime) <= set(development)
    assert {name: development[name] for name in runtime} == runtime
    assert not DEVELOPMENT_TOOLS & set(runtime)


@pytest.mark.skipif(not shutil.which("make"), reason="no make")
def test_make_run_installs_only_the_runtime():
    commands = make_dry_run("run")

    installs = [c for c in commands if " pip install " in c and "-r " in c]
    assert installs and all(c.endswith("-r requirements.lock") for c in installs), installs


@pytest.mark.skipif(not shutil.which("make"), reason="no make")
def test_make_test_installs_the_runtime_and_the_development_tools():
    commands = make_dry_run("test")

    installs = [c.rsplit(" ", 1)[-1] for c in commands if " pip install " in c and "-r " in c]
    assert installs == ["requirements.lock", "requirements-dev.lock"]
    assert commands[-1].startswith("/nonexistent/venv/bin/pytest")


def test_the_image_installs_the_runtime_lock_only():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]

    assert installs and all("--require-hashes -r /tmp/requirements.lock" in line for line in installs)
    assert not [line for line in dockerfile.splitlines() if "requirements-dev" in line and not line.startswith("#")]
