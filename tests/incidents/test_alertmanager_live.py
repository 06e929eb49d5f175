"""End to end with Debian's real Alertmanager (and Prometheus, when installed) on 127.0.0.1,
notifying a live Bridge test server with a Bearer token, and a real Celery worker applying the
notifications: the receiver configuration of the admin guide (docs/admin/alertmanager.md), tested as
written there."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests

from incidents.models import Alert, AlertGroup, AlertNotification, Incident

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
PROMETHEUS = shutil.which("prometheus")

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        ALERTMANAGER is None,
        reason="no Alertmanager: `apt-get install prometheus-alertmanager` (CI installs it)",
    ),
]

# As in the admin guide, with intervals shortened for a test.
ALERTMANAGER_CONFIG = """
route:
  receiver: bridge
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: bridge
    webhook_configs:
      - url: {url}/api/incidents/alertmanager/
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _ready(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False


class Process:
    def __init__(self, args, log_path):
        self.log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()


@pytest.fixture
def alertmanager(tmp_path, live_server, receiver, celery_worker):
    """Alertmanager notifying the live server; the real worker applies what the receiver stores."""
    port = _free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(ALERTMANAGER_CONFIG.format(url=live_server.url, token=receiver.token))
    process = Process(
        [
            ALERTMANAGER,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        tmp_path / "alertmanager.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _ready(f"{url}/-/ready"), 30, "Alertmanager to be ready")
        yield url
    finally:
        process.stop()


def _post_alert(alertmanager_url: str, alert: dict) -> None:
    requests.post(f"{alertmanager_url}/api/v2/alerts", json=[alert], timeout=5).raise_for_status()


def test_alertmanager_opens_and_resolves_an_incident_and_its_resends_change_nothing(
    alertmanager, runbook, service, developer
):
    alert = {
        "labels": {"alertname": "CheckoutDown", "service": "checkout-api", "severity": "critical"},
        "annotations": {"summary": "checkout-api is down"},
        "startsAt": "2026-12-05T01:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up+%3D%3D+0",
    }
    sent = time.monotonic()
    _post_alert(alertmanager, alert)
    incident = _wait(lambda: Incident.objects.filter(entity=service).first(), 30, "the incident")
    print(f"\nAlertmanager → incident visible: {time.monotonic() - sent:.2f} s (group_wait 1 s)")
    assert (incident.runbook, incident.severity, incident.is_open) == (runbook, "sev1", True)
    # repeat_interval (2 s) re-sends the same notification: nothing changes.
    group = AlertGroup.objects.get()
    _wait(lambda: AlertGroup.objects.get(pk=group.pk).unchanged >= 1, 30, "a re-sent notification")
    assert Alert.objects.count() == 1 and Incident.objects.count() == 1
    assert not AlertNotification.objects.exclude(status="applied").exists()

    _post_alert(alertmanager, {**alert, "endsAt": "2026-12-05T01:10:00Z"})
    _wait(lambda: not Incident.objects.get(pk=incident.pk).is_open, 30, "the incident to resolve")
    incident.refresh_from_db()
    assert incident.outcome == "resolved" and incident.closed_at.isoformat() == "2026-12-05T01:10:00+00:00"
    assert Alert.objects.get().status == "resolved"


class Target:
    """A tiny /metrics endpoint that Prometheus scrapes; stopping it makes ``up`` 0."""

    def __init__(self, port: int):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                body = b"checkout_requests_total 1\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.port = port
        self.server = None
        self.handler = Handler

    def start(self):
        self.server = HTTPServer(("127.0.0.1", self.port), self.handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.mark.skipif(PROMETHEUS is None, reason="no Prometheus: `apt-get install prometheus` (CI installs it)")
def test_prometheus_up_rule_fires_through_alertmanager_and_recovers(alertmanager, tmp_path, runbook, service):
    target = Target(_free_port())
    target.start()
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "groups:\n  - name: bridge\n    interval: 1s\n    rules:\n"
        '      - alert: CheckoutDown\n        expr: up{job="checkout"} == 0\n        for: 0s\n'
        "        labels: {severity: critical, service: checkout-api}\n"
        "        annotations: {summary: checkout-api is not answering}\n"
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{rules}]\n"
        f"alerting: {{alertmanagers: [{{static_configs: [{{targets: ['{alertmanager.removeprefix('http://')}']}}]}}]}}\n"
        f"scrape_configs:\n  - job_name: checkout\n    static_configs: [{{targets: ['127.0.0.1:{target.port}']}}]\n"
    )
    port = _free_port()
    prometheus = Process(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--rules.alert.resend-delay=1s",
        ],
        tmp_path / "prometheus.log",
    )
    try:
        _wait(lambda: _ready(f"http://127.0.0.1:{port}/-/ready"), 60, "Prometheus to be ready")
        time.sleep(3)  # a few good scrapes first
        target.stop()
        incident = _wait(lambda: Incident.objects.filter(entity=service).first(), 60, "the incident")
        assert incident.runbook == runbook and incident.severity == "sev1"
        alert = Alert.objects.get(incident=incident)
        assert alert.generator_url.startswith("http") and "up" in alert.generator_url
        target.start()
        _wait(lambda: not Incident.objects.get(pk=incident.pk).is_open, 90, "the alert to resolve")
        assert Alert.objects.get(pk=alert.pk).status == "resolved"
    finally:
        prometheus.stop()
        target.stop()
