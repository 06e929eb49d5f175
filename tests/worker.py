"""Starting and stopping a real Celery worker process for the tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    if db["ENGINE"].startswith("django.db.backends.postgresql"):
        auth = quote(db["USER"] or "")
        if db.get("PASSWORD"):
            auth += ":" + quote(db["PASSWORD"])
        host = db["HOST"] or "127.0.0.1"
        port = db["PORT"] or "5432"
        return f"postgres://{auth}@{host}:{port}/{db['NAME']}"
    raise RuntimeError(f"unsupported database engine for a test worker: {db['ENGINE']}")


def purge_broker() -> None:
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        shutil.rmtree(settings.BROKER_DATA_DIR / "queue", ignore_errors=True)
        (settings.BROKER_DATA_DIR / "queue").mkdir(parents=True, exist_ok=True)
        return
    from portal.celery import app

    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in ("default", "provisioning"):
            with contextlib.suppress(Exception):  # a queue that does not exist yet holds nothing
                channel.queue_purge(queue)


class CeleryWorker:
    def __init__(self, env: dict[str, str], concurrency: int = 2):
        self.env = env
        self.concurrency = concurrency
        self.process: subprocess.Popen | None = None
        self.log_path = ROOT / "var" / "test-worker.log"

    @classmethod
    def for_test_database(cls, concurrency: int = 2) -> CeleryWorker:
        env = os.environ.copy()
        env["DATABASE_URL"] = test_database_url()
        env["BROKER_DATA_DIR"] = str(settings.BROKER_DATA_DIR)
        env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
        env.setdefault("PYTHONUNBUFFERED", "1")
        return cls(env, concurrency)

    def start(self, timeout: float = 60) -> None:
        purge_broker()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "w")  # noqa: SIM115  (kept open for the process's lifetime)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "-Q",
                "default,provisioning",
                "--concurrency",
                str(self.concurrency),
                "--loglevel",
                "INFO",
                "--without-mingle",
                "--without-gossip",
                "--hostname",
                f"test-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Celery worker exited early:\n{self.log_path.read_text()[-3000:]}")
            if "ready." in self.log_path.read_text():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the Celery worker did not start in {timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def wait_for(predicate, timeout: float = 30, interval: float = 0.1):
    """Poll ``predicate`` until it returns something truthy; return that, or None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    return None
