"""Environments benchmark (issue 5): prints figures; not part of the pass/fail suite.

    .venv/bin/pytest tests/bench/bench_environments.py -s -p no:randomly

Budgets: the status refresh of an environment with 50 pods ≤ 300 ms against the emulator;
the expiry sweep handles 1,000 expired environments in one pass, reading ids in chunks.
"""

import statistics
import time
import tracemalloc
from datetime import timedelta

import pytest
from django.utils import timezone

from provisioning import kubernetes as kube
from provisioning import services
from provisioning.models import Cluster, EnvironmentRequest, RequestState, Run, RunKind
from tests.provisioning import conftest as provisioning_fixtures

pytestmark = pytest.mark.django_db(transaction=True)

_work_dir = provisioning_fixtures._work_dir
enqueued = provisioning_fixtures.enqueued
shipped_templates = provisioning_fixtures.shipped_templates


def _pod(namespace: str, i: int) -> dict:
    waiting = {"waiting": {"reason": "CrashLoopBackOff"}} if i % 5 == 0 else {"running": {}}
    return {
        "metadata": {"name": f"web-{i}", "namespace": namespace},
        "spec": {"containers": [{"name": "web", "image": "x"}]},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "web",
                    "ready": i % 5 != 0,
                    "restartCount": i % 3,
                    "image": "x",
                    "imageID": "",
                    "state": waiting,
                }
            ],
        },
    }


def test_bench_status_refresh_with_50_pods(kube_connection, kube_emulator, shipped_templates, developer, login):
    namespace = "bridge-bench"
    kube.apply_environment(
        kube_connection,
        kube.EnvironmentObjects(namespace=namespace, labels={"bridge.dev/environment": "1"}, quota={"pods": "60"}),
        lambda line: None,
    )
    for i in range(50):
        kube_emulator.seed("pods", _pod(namespace, i))
    cluster = Cluster.objects.create(name="bench", context="emulator", kubeconfig=kube_connection.kubeconfig)
    version = shipped_templates["preview"].current_version
    request = EnvironmentRequest.objects.create(
        template=version.template, template_version=version, requester=developer, name="bench", justification="x",
        parameters={}, ttl_hours=1, state=RequestState.ACTIVE, cluster=cluster, namespace=namespace,
        activated_at=timezone.now(), expires_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    client = login(developer)
    samples = []
    for _ in range(10):
        started = time.perf_counter()
        response = client.get(f"/environments/requests/{request.pk}/status/", HTTP_HX_REQUEST="true")
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200 and response.content.decode().count("CrashLoopBackOff") == 10
    median = statistics.median(samples)
    print(f"\nstatus refresh, 50 pods: median {median * 1000:.0f} ms, max {max(samples) * 1000:.0f} ms (budget 300 ms)")
    assert median <= 0.3


def test_bench_expiry_sweep_of_1000_environments(shipped_templates, developer, enqueued):
    version = shipped_templates["preview"].current_version
    now = timezone.now()
    EnvironmentRequest.objects.bulk_create(
        [
            EnvironmentRequest(
                template=version.template, template_version=version, requester=developer, name=f"exp-{i}",
                justification="x", parameters={}, ttl_hours=1, state=RequestState.ACTIVE,
                activated_at=now - timedelta(hours=2), expires_at=now - timedelta(minutes=1),
            )
            for i in range(1000)
        ],
        batch_size=500,
    )  # fmt: skip
    tracemalloc.start()
    started = time.perf_counter()
    counts = services.environments_sweep(now=now, chunk=200)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"\nexpiry sweep: {counts['destroyed']} environments in {elapsed:.1f} s, "
        f"peak traced memory {peak / 1024 / 1024:.1f} MiB (ids read 200 at a time)"
    )
    assert counts["destroyed"] == 1000
    assert EnvironmentRequest.objects.filter(state=RequestState.DESTROYING).count() == 1000
    assert Run.objects.filter(kind=RunKind.DESTROY).count() == 1000
