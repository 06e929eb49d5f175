"""Incidents benchmark: a burst of Alertmanager notifications through the receiver.

Not part of the pass/fail suite (pytest does not collect it). Run:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bridge_incidents \
    .venv/bin/python tests/bench/bench_incidents.py [--alerts 1000] [--groups 100] [--services 20] [--clients 4]

It creates a throw-away test database (``test_<name>``), a catalog of services with one runbook
each, and a receiver; then sends ``--groups`` grouped notifications carrying ``--alerts`` alerts
in all (Alertmanager's payload version 4, shaped as the recorded tests/fixtures/alertmanager ones)
from ``--clients`` threads, all within the burst, and sends every notification a second time
(``repeat_interval``). It checks: no alert lost or duplicated, one incident per service, re-sends
change nothing. Budgets (issue 22): notification → incident visible ≤ 1 s; 1,000 alerts in 100
notifications within 10 s, 0 lost, 0 duplicated, one incident per service; receiver p95 ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.db import connections
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases

    settings.ALLOWED_HOSTS = ["*"]
    setup_test_environment()
    old = setup_databases(verbosity=0, interactive=False)
    try:
        return _run(args)
    finally:
        connections.close_all()
        teardown_databases(old, verbosity=0)


def _run(args) -> int:
    from django.db import connection
    from django.db.models import Count
    from django.test import Client

    from catalog import services as catalog
    from incidents import services
    from incidents.models import Alert
    from knowledge import services as knowledge
    from knowledge.models import Incident
    from portal.services import role_groups_ensure

    role_groups_ensure()
    docs = ["apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team-bench}\nspec: {type: team}\n"]
    docs += [
        "apiVersion: backstage.io/v1alpha1\nkind: Component\n"
        f"metadata: {{name: svc-{i}}}\nspec: {{type: service, lifecycle: production, owner: team-bench}}\n"
        for i in range(args.services)
    ]
    catalog.catalog_import_text(text="---\n".join(docs), name="bench")
    from django.contrib.auth import get_user_model

    from catalog.models import Entity

    admin = get_user_model().objects.create_superuser("bench-admin", "b@example.com", "x")
    space = knowledge.space_create(actor=admin, key="bench", name="Bench", owner=None)
    for i in range(args.services):
        knowledge.page_create(
            actor=admin, space=space, title=f"svc-{i} is down", kind="runbook", body="- [ ] Look\n- [ ] Roll back\n",
            entity_ids=[Entity.objects.get(name=f"svc-{i}").pk],
        )  # fmt: skip
    receiver, token = services.receiver_create(name="bench")

    per_group = args.alerts // args.groups
    bodies = []
    for g in range(args.groups):
        service = f"svc-{g % args.services}"
        alerts = [
            {
                "status": "firing",
                "labels": {"alertname": f"Alert{g}", "service": service, "severity": "critical", "pod": f"p{k}"},
                "annotations": {"summary": f"{service} alert {g}/{k}"},
                "startsAt": f"2026-12-05T01:{g % 60:02d}:{k % 60:02d}Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up+%3D%3D+0",
                "fingerprint": f"{g:08x}{k:08x}",
            }
            for k in range(per_group)
        ]
        bodies.append(
            json.dumps(
                {
                    "receiver": "bridge",
                    "status": "firing",
                    "alerts": alerts,
                    "groupLabels": {"alertname": f"Alert{g}", "service": service},
                    "commonLabels": {},
                    "commonAnnotations": {},
                    "externalURL": "http://am:9093",
                    "version": "4",
                    "groupKey": f'{{}}:{{alertname="Alert{g}", service="{service}"}}',
                    "truncatedAlerts": 0,
                }
            )  # fmt: skip
        )

    def send(body: str) -> tuple[float, dict]:
        try:
            return _send(body)
        finally:
            connection.close()  # each thread's own connection, so the test database can be dropped

    def _send(body: str) -> tuple[float, dict]:
        client = Client()
        started = time.perf_counter()
        response = client.post(
            "/api/incidents/alertmanager/", data=body, content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"receiver answered {response.status_code}: {response.content[:300]!r}")
        return elapsed, response.json()

    def burst(label: str):
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            results = list(pool.map(send, bodies))
        wall = time.perf_counter() - started
        latencies = sorted(r[0] for r in results)
        p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
        print(
            f"{label}: {len(bodies)} notifications, {sum(r[1]['alerts'] for r in results)} alerts in {wall:.2f} s; "
            f"receiver median {statistics.median(latencies) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
            f"max {latencies[-1] * 1000:.1f} ms; changed {sum(r[1]['changed'] for r in results)}"
        )
        return wall, p95, latencies[-1], results

    print(f"database: {connection.vendor}; {args.clients} client threads; {args.services} services")
    wall, p95, worst, _ = burst("first send")
    stored = Alert.objects.count()
    duplicates = stored - Alert.objects.values("fingerprint", "starts_at").distinct().count()
    per_service = {
        row["entity__name"]: row["n"] for row in Incident.objects.values("entity__name").annotate(n=Count("id"))
    }
    lost = args.groups * per_group - stored
    print(f"alerts stored {stored}, lost {lost}, duplicated {duplicates}; incidents {Incident.objects.count()} "
          f"for {len(per_service)} services, most per service {max(per_service.values())}")  # fmt: skip
    wall2, p95_2, _, again = burst("re-send (repeat_interval)")
    resend_changed = sum(r[1]["changed"] for r in again)
    ok = (
        lost == 0 and duplicates == 0 and max(per_service.values()) == 1 and len(per_service) == args.services
        and resend_changed == 0 and wall <= 10 and p95 <= 0.05 and worst <= 1.0
    )  # fmt: skip
    print(
        f"budgets: burst ≤ 10 s {'OK' if wall <= 10 else 'OVER'} ({wall:.2f} s); p95 ≤ 50 ms "
        f"{'OK' if p95 <= 0.05 else 'OVER'} ({p95 * 1000:.1f} ms); notification → incident visible ≤ 1 s "
        f"{'OK' if worst <= 1.0 else 'OVER'} (slowest {worst * 1000:.0f} ms); re-sends changed {resend_changed}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
