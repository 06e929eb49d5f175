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
    """A ``celery worker`` process; with ``beat``, it runs the beat schedule too (``-B``).

    It leads its own session, so ``kill()`` can SIGKILL it with its pool processes at once,
    as a machine's OOM killer or an operator's ``kill -9`` would, and nothing else.
    """

    def __init__(
        self,
        env: dict[str, str],
        concurrency: int = 2,
        *,
        beat: bool = False,
        log_path: Path | None = None,
        purge: bool = True,
    ):
        self.env = env
        self.concurrency = concurrency
        self.beat = beat
        self.purge = purge
        self.process: subprocess.Popen | None = None
        self.log_path = log_path or Path(settings.VAR_DIR) / "test-worker.log"

    @classmethod
    def for_test_database(cls, concurrency: int = 2) -> CeleryWorker:
        env = os.environ.copy()
        env["DATABASE_URL"] = test_database_url()
        env["BROKER_DATA_DIR"] = str(settings.BROKER_DATA_DIR)
        env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
        env.setdefault("PYTHONUNBUFFERED", "1")
        return cls(env, concurrency)

    def start(self, timeout: float = 60) -> None:
        if self.purge:
            purge_broker()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "w")  # noqa: SIM115  (kept open for the process's lifetime)
        beat = ["-B", "-s", str(self.log_path.with_suffix(".schedule"))] if self.beat else []
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
                f"test-{os.getpid()}-{id(self)}@%h",
                *beat,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
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

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes (its whole process group), with no warning."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


class RedisServer:
    """A private ``redis-server`` on a free port of 127.0.0.1, that a test can stop and start again."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        if not wait_for(self._answers, timeout=timeout, interval=0.05):
            self.stop()
            raise RuntimeError(f"redis-server did not start on port {self.port}")
        return self

    def _answers(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def celery_broker(url: str):
    """Point this process's Celery app at ``url`` for the duration (the tests send tasks too)."""
    from portal.celery import app

    previous = (app.conf.broker_url, app.conf.broker_transport_options)

    def reset() -> None:
        # Forget the pools of the previous URL without closing them: kombu keeps one pool per URL
        # for the whole process, and the previous URL's comes back in use afterwards.
        app._pool = None
        app.amqp._producer_pool = None

    # Celery reads CELERY_BROKER_URL from the environment before its configuration.
    previous_env = os.environ.get("CELERY_BROKER_URL")
    reset()
    os.environ["CELERY_BROKER_URL"] = url
    app.conf.broker_url = url
    # As portal/settings.py does, so that the workers a test starts (which read the same environment) agree.
    options = {"visibility_timeout": 3600}
    if os.environ.get("CELERY_BROKER_KEY_PREFIX"):
        options["global_keyprefix"] = os.environ["CELERY_BROKER_KEY_PREFIX"]
    app.conf.broker_transport_options = options
    try:
        yield
    finally:
        reset()
        app.conf.broker_url, app.conf.broker_transport_options = previous
        if previous_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = previous_env


def wait_for(predicate, timeout: float = 30, interval: float = 0.1):
    """Poll ``predicate`` until it returns something truthy; return that, or None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    return None


class PortalServer:
    """The portal under gunicorn, listening on a socket this process binds at once and hands over
    (``--bind fd://N``). Choosing a free port and letting gunicorn bind it later left a gap in which
    another test's server could take the port; the readiness check would then have found that
    server and the test would have talked to a portal configured otherwise. The port is known
    before gunicorn starts (an identity provider's redirect address needs it)."""

    def __init__(self, log_path: Path, *gunicorn_args: str):
        import socket

        self.log_path = log_path
        self.gunicorn_args = gunicorn_args
        self.process: subprocess.Popen | None = None
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, env: dict, timeout: float = 30) -> PortalServer:
        fd = self._listener.fileno()
        with self._listener, open(self.log_path, "w") as log:
            self.process = subprocess.Popen(  # nosec B603: fixed arguments, no shell
                [sys.executable, "-m", "gunicorn", "portal.wsgi", "--bind", f"fd://{fd}", *self.gunicorn_args],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(fd,),
            )
        if not wait_for(self._answers, timeout=timeout, interval=0.2):
            self.stop()
            raise RuntimeError(f"gunicorn did not answer within {timeout} s:\n{self.log_tail()}")
        return self

    def _answers(self) -> bool:
        import http.client

        if self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", "/healthz")
            connection.getresponse()  # any answer: no other server can hold this socket
            return True
        except OSError:
            return False
        finally:
            connection.close()

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def stop(self) -> None:
        self._listener.close()
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
