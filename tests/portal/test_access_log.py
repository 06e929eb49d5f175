"""gunicorn's access line through ``portal.access_log.AccessLogger`` (selected by gunicorn.conf.py)."""

from __future__ import annotations

import datetime
import http.client
import logging
import re
import runpy
from types import SimpleNamespace

import pytest
from gunicorn import glogging
from gunicorn.config import Config

from portal.access_log import AccessLogger
from tests.deploy.test_manifests import production_env
from tests.worker import ROOT, PortalServer, wait_for

FORMATS = [
    Config().access_log_format,  # gunicorn's default, what the image logs
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s %(M)s %(L)s %(T)s %(B)s %(p)s',
    "%(m)s %(U)s ?%(q)s %(H)s %({x-forwarded-for}i)s %({X-Request-ID}I)s %({content-type}o)s %({remote_addr}e)s",
    "%({missing}i)s %({missing}o)s %({missing}e)s %(Z)s %({}i)s %({x-dup}i)s %({x-dup}o)s",
]


@pytest.fixture(autouse=True)
def _one_clock_second(monkeypatch):
    """Lines written by two loggers are compared: both read the same second, not two around a tick."""
    monkeypatch.setattr(glogging.Logger, "now", lambda self: "[07/Dec/2026:06:07:00 +0000]")


@pytest.fixture(autouse=True)
def _no_handlers_left_behind():
    """gunicorn's loggers are process-wide; each test starts and ends with none of its handlers on them."""
    yield
    for name in ("gunicorn.access", "gunicorn.error"):
        log = logging.getLogger(name)
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()
        log.filters.clear()


class Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def access_line(logger_class, access_format: str, resp, req, environ) -> str:
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", access_format)
    logger = logger_class(cfg)
    capture = Capture()
    logger.access_log.handlers = [capture]
    logger.access(resp, req, environ, datetime.timedelta(seconds=1, microseconds=23456))
    return capture.lines[-1]


def a_hostile_request():
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": '/api/catalog/entities/?q="x"',
        "PATH_INFO": "/api/catalog/entities/",
        "QUERY_STRING": 'q="x"',
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.7",
        "HTTP_REFERER": 'https://evil.example/"quoted"',
        "HTTP_USER_AGENT": 'curl/8 "x" \\ ünïcode',
        "HTTP_AUTHORIZATION": "Basic " + __import__("base64").b64encode(b'ada"lovelace:secret').decode(),
        "wsgi.url_scheme": "http",
    }
    req = SimpleNamespace(
        headers=[
            ("X-FORWARDED-FOR", "203.0.113.9"),
            ("X-REQUEST-ID", 'id-"1"'),
            ("X-DUP", "first"),
            ("X-DUP", "second"),
        ]
    )
    resp = SimpleNamespace(
        status="200 OK",
        sent=881,
        headers=[("Content-Type", "application/json"), ("X-Dup", "a"), ("x-dup", 'b"')],
    )
    return resp, req, environ


@pytest.mark.parametrize("access_format", FORMATS)
def test_the_access_line_is_gunicorns_own_for_any_format(access_format):
    resp, req, environ = a_hostile_request()

    ours = access_line(AccessLogger, access_format, resp, req, environ)
    theirs = access_line(glogging.Logger, access_format, resp, req, environ)

    assert ours == theirs
    assert "second" in ours or "x-dup" not in access_format  # the last of a repeated header, as gunicorn


def test_a_response_with_nothing_sent_and_a_numeric_status_logs_as_gunicorn_does():
    resp, req, environ = a_hostile_request()
    resp = SimpleNamespace(status=404, sent=None, headers={"Content-Type": "text/html"})

    for access_format in FORMATS:
        assert access_line(AccessLogger, access_format, resp, req, environ) == access_line(
            glogging.Logger, access_format, resp, req, environ
        )


def test_gunicorn_started_as_the_image_starts_it_writes_the_combined_line(tmp_path):
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["logger_class"] == "portal.access_log.AccessLogger"
    log = tmp_path / "gunicorn.log"
    server = PortalServer(log, "--workers", "1", "--access-logfile", "-").start(production_env(tmp_path))
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request(
            "GET",
            "/healthz?probe=1",
            headers={"Host": "bridge.example.com", "User-Agent": 'probe "quoted"', "Referer": "https://x.example/"},
        )
        response = connection.getresponse()
        body = response.read()
        connection.close()

        line = wait_for(
            lambda: next((entry for entry in log.read_text().splitlines() if "/healthz?probe=1" in entry), None),
            timeout=10,
        )
    finally:
        server.stop()

    assert line is not None, server.log_tail()
    assert re.fullmatch(
        r'127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET /healthz\?probe=1 HTTP/1\.1" '
        rf'{response.status} {len(body)} "https://x\.example/" "probe \\"quoted\\""',
        line,
    ), line


def gunicorns_handlers_only(logger):
    """pytest attaches its capture handlers to every logger that does not propagate; gunicorn's do not."""
    for handler in list(logger.access_log.handlers):
        if not getattr(handler, "_gunicorn", False):
            logger.access_log.removeHandler(handler)
    return logger


def file_logger(logger_class, path, access_format=None):
    cfg = Config()
    cfg.set("accesslog", str(path))
    if access_format:
        cfg.set("access_log_format", access_format)
    logger = gunicorns_handlers_only(logger_class(cfg))
    if logger_class is AccessLogger:
        assert logger._plain_access_handler() is not None  # the line is written straight to the file
    return logger


def file_line(logger_class, access_format: str, path, resp, req, environ) -> str:
    logger = file_logger(logger_class, path, access_format)
    try:
        logger.access(resp, req, environ, datetime.timedelta(seconds=1, microseconds=23456))
    finally:
        for handler in logger.access_log.handlers:
            handler.close()
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("access_format", FORMATS)
def test_written_straight_to_gunicorns_log_file_the_line_is_the_same_as_through_logging(access_format, tmp_path):
    resp, req, environ = a_hostile_request()

    ours = file_line(AccessLogger, access_format, tmp_path / "ours.log", resp, req, environ)
    theirs = file_line(glogging.Logger, access_format, tmp_path / "theirs.log", resp, req, environ)

    assert ours == theirs
    assert ours.endswith("\n") and ours.count("\n") == 1


def test_after_the_log_file_is_rotated_the_lines_go_to_the_new_file(tmp_path):
    resp, req, environ = a_hostile_request()
    logger = file_logger(AccessLogger, tmp_path / "access.log")
    elapsed = datetime.timedelta(milliseconds=3)

    logger.access(resp, req, environ, elapsed)
    (tmp_path / "access.log").rename(tmp_path / "access.log.1")
    logger.reopen_files()  # what gunicorn does on SIGUSR1, as logrotate asks
    environ = {**environ, "RAW_URI": "/after-rotation"}
    logger.access(resp, req, environ, elapsed)
    for handler in logger.access_log.handlers:
        handler.close()

    assert "/after-rotation" not in (tmp_path / "access.log.1").read_text()
    assert "/after-rotation" in (tmp_path / "access.log").read_text()


def test_a_filter_on_the_access_log_still_sees_every_line(tmp_path):
    """Anything beyond gunicorn's own handler (a filter here) keeps the way through ``logging``."""
    resp, req, environ = a_hostile_request()
    logger = file_logger(AccessLogger, tmp_path / "access.log")
    seen = []
    (handler,) = logger.access_log.handlers
    handler.addFilter(lambda record: seen.append(record.getMessage()) or False)

    logger.access(resp, req, environ, datetime.timedelta(milliseconds=3))
    for handler in logger.access_log.handlers:
        handler.close()

    assert len(seen) == 1 and '"GET /api/catalog/entities/?q=\\"x\\" HTTP/1.1"' in seen[0]
    assert (tmp_path / "access.log").read_text() == ""  # the filter dropped it, as logging does
