"""Ports for the servers a benchmark starts on 127.0.0.1."""

import socket
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    """Return once something listens on ``port``; RuntimeError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def wait_workers_ready(log: Path, workers: int, timeout: float = 60) -> None:
    """Return once ``workers`` gunicorn workers started with ``-c tests/bench/gunicorn_ready.py`` have
    loaded the portal (each writes a line to ``log``); RuntimeError after ``timeout`` seconds."""
    from tests.bench.gunicorn_ready import READY

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.read_text(errors="replace").count(READY) >= workers:
            return
        time.sleep(0.1)
    raise RuntimeError(f"fewer than {workers} gunicorn workers were ready after {timeout:.0f} s; see {log}")
