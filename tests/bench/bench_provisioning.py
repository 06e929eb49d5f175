"""Provisioning benchmark: prints figures; not part of the pass/fail suite.

Run it against Redis and PostgreSQL (the budgets are for that setup):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bridge_provisioning \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/2 \\
    .venv/bin/pytest tests/bench/bench_provisioning.py -s -p no:randomly

Budgets (issue 4): approve → Terraform starting, median ≤ 1 s; 20 requests at once on a
two-process worker all complete, none lost, none run twice; a log poll after line 9,990 of
a 10,000-line run ≤ 20 ms.
"""

import statistics
import time

import pytest
from django.urls import reverse

from provisioning import selectors, services
from provisioning.models import EnvironmentRequest, RequestState, Run, RunKind, RunLogLine
from tests.provisioning import conftest as provisioning_fixtures
from tests.provisioning.conftest import submit
from tests.worker import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

# The provisioning tests' fixtures, for this file outside tests/provisioning/.
_work_dir = provisioning_fixtures._work_dir
enqueued = provisioning_fixtures.enqueued
shipped_templates = provisioning_fixtures.shipped_templates
test_templates = provisioning_fixtures.test_templates


def _wait_state(ids, *states, timeout=300):
    return wait_for(
        lambda: EnvironmentRequest.objects.filter(pk__in=ids, state__in=states).count() == len(ids) or None,
        timeout=timeout,
        interval=0.2,
    )


def test_bench_approve_to_terraform_start(celery_worker, shipped_templates, developer, approver):
    samples = []
    for i in range(5):
        request = submit(developer, shipped_templates["team-sandbox"], name=f"bench-ap-{i}", size="small", members=2)
        assert _wait_state([request.pk], RequestState.AWAITING_APPROVAL, timeout=120)
        clicked = time.time()
        services.request_approve(user=approver, request_id=request.pk)
        apply = wait_for(
            lambda r=request: Run.objects.filter(request=r, kind=RunKind.APPLY, line_count__gt=0).first(),
            timeout=60,
            interval=0.02,
        )
        assert apply is not None
        samples.append(apply.started_at.timestamp() - clicked)
        assert _wait_state([request.pk], RequestState.ACTIVE, timeout=120)  # let the worker finish
    median = statistics.median(samples)
    print(
        f"\napprove → apply run started: median {median * 1000:.0f} ms, max {max(samples) * 1000:.0f} ms "
        f"(budget 1000 ms) over {len(samples)}"
    )


def test_bench_twenty_requests_at_once(celery_worker, test_templates, developer):
    started = time.monotonic()
    ids = [submit(developer, test_templates["strict"], name=f"bench-many-{i}", size=2).pk for i in range(20)]
    done = _wait_state(ids, RequestState.AWAITING_APPROVAL, RequestState.FAILED, timeout=600)
    elapsed = time.monotonic() - started
    states = list(EnvironmentRequest.objects.filter(pk__in=ids).values_list("state", flat=True))
    inits = [RunLogLine.objects.filter(run__request_id=pk, text__startswith="$ terraform init").count() for pk in ids]
    runs = [Run.objects.filter(request_id=pk).count() for pk in ids]
    print(
        f"\n20 requests on a 2-process worker: {'all done' if done else 'NOT all done'} in {elapsed:.1f} s; "
        f"awaiting approval {states.count('awaiting_approval')}, failed {states.count('failed')}; "
        f"terraform init per request: {sorted(set(inits))}; runs per request: {sorted(set(runs))}"
    )
    assert done and set(inits) == {1} and set(runs) == {1}


def test_bench_log_poll_of_a_long_run(test_templates, developer, login, enqueued):
    request = submit(developer, test_templates["strict"], name="bench-log", size=2)
    run = request.runs.get()
    services.run_claim(run_id=run.pk, worker="bench")
    for start in range(1, 10001, 1000):
        services.log_append(
            run_id=run.pk, first_number=start, lines=[f"line {n} " + "x" * 80 for n in range(start, start + 1000)]
        )
    timings = []
    for _ in range(50):
        t = time.perf_counter()
        lines = selectors.log_lines(run, after=9990)
        timings.append(time.perf_counter() - t)
    assert [line.number for line in lines] == list(range(9991, 10001))
    client = login(developer)
    url = reverse("provisioning:request-log", args=[request.pk])
    http = []
    for _ in range(20):
        t = time.perf_counter()
        response = client.get(url, {"run": run.pk, "after": 9990}, HTTP_HX_REQUEST="true")
        http.append(time.perf_counter() - t)
        assert response.status_code == 200
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        client.get(url, {"run": run.pk, "after": 9990}, HTTP_HX_REQUEST="true")
    print(f"\nhtmx log poll: {len(queries)} queries")
    api = []
    for _ in range(20):
        t = time.perf_counter()
        body = client.get(f"/api/provisioning/runs/{run.pk}/log/", {"after": 9990}).json()
        api.append(time.perf_counter() - t)
        assert len(body["lines"]) == 10
    print(
        f"\nlog poll after line 9,990 of 10,000: query median {statistics.median(timings) * 1000:.1f} ms; "
        f"htmx endpoint median {statistics.median(http) * 1000:.1f} ms; API median "
        f"{statistics.median(api) * 1000:.1f} ms (budget 20 ms)"
    )
