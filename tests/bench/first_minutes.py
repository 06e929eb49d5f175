"""The first minutes of a newcomer: a fresh clone, `make run`, the home page.

Clones the repository (its committed HEAD) into a scratch folder, runs `make run` there with
empty pip and uv caches, and prints how long it took until the home page answered, how long
the install alone took, and how big `.venv` is then; each beside its budget and the load
average. Then stops the portal as Ctrl-C would and removes the scratch folder.

Run it with the machine's Python (it uses the standard library only):

    python3 tests/bench/first_minutes.py [--repo .] [--port 0] [--keep]

It needs the network to PyPI, as a newcomer's first `make run` does. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUDGET_SECONDS = 120
BUDGET_VENV_MB = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def disk_usage_mb(*paths: Path) -> float:
    """Like ``du -sc``: blocks actually used, each hard-linked file counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, _dirs, files in (walked for path in paths for walked in os.walk(path)):
        for name in files:
            try:
                st = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total / 1e6


def home_page_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (a loopback URL we built)
            return response.status == 200 and b'name="password"' in response.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=str(ROOT), help="the repository to clone (default: this one)")
    parser.add_argument("--port", type=int, default=0, help="port for make run (default: a free one)")
    parser.add_argument("--timeout", type=int, default=900, help="give up after this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bridge-first-minutes-"))
    clone = scratch / "bridge"
    port = args.port or free_port()
    env = {
        **os.environ,
        # Empty caches: nothing downloaded before counts.
        "PIP_CACHE_DIR": str(scratch / "pip-cache"),
        "UV_CACHE_DIR": str(scratch / "uv-cache"),
        "XDG_CACHE_HOME": str(scratch / "cache"),
        "PYTHONUNBUFFERED": "1",
    }
    for variable in ("VIRTUAL_ENV", "DATABASE_URL", "CELERY_BROKER_URL", "PORTAL_VAR_DIR", "BROKER_DATA_DIR"):
        env.pop(variable, None)
    subprocess.run(["git", "clone", "--quiet", "--no-local", args.repo, str(clone)], check=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True).stdout
    print(f"fresh clone of {args.repo} at {commit.strip()} in {clone}; port {port}; load average {load()}")

    log_path = scratch / "make-run.log"
    url = f"http://127.0.0.1:{port}/"
    installed = clone / ".venv" / ".installed-runtime"
    load_before = load()
    started = time.monotonic()
    with open(log_path, "w") as log:
        make = subprocess.Popen(
            ["make", "run", f"PORT={port}"],
            cwd=clone,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, which Ctrl-C is sent to below
        )
    install_seconds = answer_seconds = None
    try:
        while time.monotonic() - started < args.timeout:
            if make.poll() is not None:
                print(f"make run exited with {make.returncode} before the home page answered:")
                print(log_path.read_text()[-3000:])
                return 1
            if install_seconds is None and installed.exists():
                install_seconds = time.monotonic() - started
            if home_page_answers(url):
                answer_seconds = time.monotonic() - started
                break
            time.sleep(0.25)
        load_after = load()
        venv_mb = disk_usage_mb(clone / ".venv")
        total_mb = disk_usage_mb(clone / ".venv", scratch / "uv-cache", scratch / "pip-cache")
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGINT)  # Ctrl-C
            try:
                make.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(make.pid, signal.SIGKILL)
                make.wait()
        stopped = "Stopped." in log_path.read_text()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # git, make and all they started
    cpu_seconds = usage.ru_utime + usage.ru_stime
    if answer_seconds is None:
        print(f"the home page did not answer within {args.timeout} s; log: {log_path}")
        return 1

    def verdict(ok: bool) -> str:
        return "within budget" if ok else "OVER BUDGET"

    print()
    print(f"{'figure':<44} {'value':>10}  budget")
    print(
        f"{'make run → home page answers':<44} {answer_seconds:>8.1f} s  ≤ {BUDGET_SECONDS} s  "
        f"{verdict(answer_seconds <= BUDGET_SECONDS)}"
    )
    if install_seconds is not None:
        print(f"{'  of which the install (venv, uv, runtime)':<44} {install_seconds:>8.1f} s")
        print(f"{'  of which migrate, demo data, start':<44} {answer_seconds - install_seconds:>8.1f} s")
    print(
        f"{'.venv after make run':<44} {venv_mb:>7.0f} MB  ≤ {BUDGET_VENV_MB} MB  {verdict(venv_mb <= BUDGET_VENV_MB)}"
    )
    print(f"{'  with the uv and pip caches (links once)':<44} {total_mb:>7.0f} MB")
    print(f"{'CPU time of it all (user + system)':<44} {cpu_seconds:>8.1f} s")
    print(f"load average (1/5/15 min) before {load_before}, after {load_after}; {os.cpu_count()} cores")
    print(f"Ctrl-C stopped web, worker and beat: {'yes' if stopped else 'NO (see ' + str(log_path) + ')'}")
    if args.keep:
        print(f"kept {scratch}")
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
