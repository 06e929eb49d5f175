"""Kubernetes step, destroy, expiry and drift: real Terraform and the Kubernetes emulator over HTTP."""

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.models import Notification
from portal.services import PermissionDenied
from provisioning import runs, services
from provisioning.models import Cluster, EnvironmentRequest, RequestState, Run, RunKind, RunLogLine, RunStatus
from tests.provisioning.conftest import run_queued, submit

pytestmark = pytest.mark.django_db(transaction=True)


def log_of(run) -> list[str]:
    return list(RunLogLine.objects.filter(run=run).order_by("number").values_list("text", flat=True))


@pytest.fixture
def cluster(kube_connection, settings):
    settings.PROVISIONING_NAMESPACE_POLL_SECONDS = 0.02
    return Cluster.objects.create(
        name="default", context="emulator", kubeconfig=kube_connection.kubeconfig, namespace_prefix="bridge-"
    )


@pytest.fixture
def active_preview(shipped_templates, developer, team, enqueued, cluster):
    request = submit(developer, shipped_templates["preview"], name="pr-7", team=team, app="checkout", replicas=2)
    run_queued(request)  # plan, auto-approved
    run_queued(request)  # apply + kubernetes
    assert request.state == RequestState.ACTIVE
    return request


def test_environments_whose_long_names_differ_past_the_limit_get_distinct_namespaces(
    shipped_templates, developer, enqueued
):
    import re

    cluster = Cluster.objects.create(name="long", namespace_prefix="bridge-platform-sandboxes-eu1-")
    names = ["checkout-feature-branch-for-payments-aaa", "checkout-feature-branch-for-payments-aab"]
    requests = [submit(developer, shipped_templates["preview"], name=name, app="checkout") for name in names]
    first, second = (services.namespace_name(request, cluster) for request in requests)
    assert first != second
    for namespace in (first, second):
        assert len(namespace) <= 63
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", namespace)
        assert namespace.startswith("bridge-platform-sandboxes-eu1-preview-checkout-feature")
    short = submit(developer, shipped_templates["preview"], name="pr-1", app="checkout")
    assert services.namespace_name(short, cluster) == "bridge-platform-sandboxes-eu1-preview-pr-1"


def test_after_terraform_the_apply_run_creates_the_namespace_and_its_objects(active_preview, kube_emulator):
    request = active_preview
    namespace = "bridge-preview-pr-7"
    assert (request.kubernetes_state, request.namespace, request.cluster.name) == ("applied", namespace, "default")
    assert request.outputs["namespace"]["value"] == namespace  # the module's output names the real namespace
    ns = kube_emulator.get("namespaces", namespace)
    assert ns["metadata"]["labels"]["bridge.dev/environment"] == str(request.pk)
    assert ns["metadata"]["labels"]["bridge.dev/team"] == "payments"
    assert ns["metadata"]["labels"]["bridge.dev/template"] == "preview"
    assert ns["metadata"]["labels"]["bridge.dev/expires"] == f"{request.expires_at:%Y-%m-%dT%H%MZ}"
    assert kube_emulator.get("resourcequotas", "bridge-quota", namespace)["spec"]["hard"]["pods"] == "10"
    binding = kube_emulator.get("rolebindings", "bridge-team-access", namespace, group="rbac.authorization.k8s.io")
    assert binding["subjects"][0]["name"] == "payments"
    settings_map = kube_emulator.get("configmaps", "checkout-settings", namespace)
    assert settings_map["data"]["APP_URL"] == request.outputs["url"]["value"]
    deployment = kube_emulator.get("deployments", "checkout", namespace, group="apps")
    assert deployment["spec"]["replicas"] == 2
    apply = request.runs.get(kind=RunKind.APPLY)
    lines = log_of(apply)
    assert lines.index("kubernetes: namespace bridge-preview-pr-7 created") > next(
        i for i, line in enumerate(lines) if "Apply complete!" in line
    )
    assert "kubernetes: Deployment bridge-preview-pr-7/checkout created" in lines


def test_without_a_registered_cluster_the_kubernetes_step_is_skipped_with_the_reason(
    shipped_templates, developer, enqueued, kube_emulator
):
    request = submit(developer, shipped_templates["preview"], name="pr-8", app="checkout")
    run_queued(request)
    run_queued(request)
    assert request.state == RequestState.ACTIVE
    assert request.kubernetes_state == "skipped"
    assert "no cluster configured" in request.kubernetes_note
    assert request.namespace == ""
    assert any(
        line.startswith("kubernetes: skipped: no cluster configured") for line in log_of(request.runs.get(kind="apply"))
    )
    assert kube_emulator.list("namespaces") == [] or all(
        not n["metadata"]["name"].endswith("pr-8") for n in kube_emulator.list("namespaces")
    )


def test_destroy_deletes_the_namespace_then_runs_terraform_destroy_in_one_run(active_preview, developer, kube_emulator):
    with pytest.raises(services.RequestInvalid):
        services.request_destroy(user=developer, request_id=active_preview.pk, confirm="wrong")
    services.request_destroy(user=developer, request_id=active_preview.pk, confirm="pr-7")
    active_preview.refresh_from_db()
    assert active_preview.state == RequestState.DESTROYING
    assert run_queued(active_preview) == ["succeeded"]
    assert active_preview.state == RequestState.DESTROYED
    assert kube_emulator.get("namespaces", "bridge-preview-pr-7") is None
    destroy = active_preview.runs.get(kind=RunKind.DESTROY)
    lines = log_of(destroy)
    deleted = lines.index("kubernetes: namespace bridge-preview-pr-7 deleted")
    tf_destroy = next(i for i, line in enumerate(lines) if line.startswith("$ terraform destroy"))
    assert deleted < tf_destroy
    assert any("Destroy complete!" in line for line in lines)
    assert Notification.objects.filter(user=developer, event="environment_destroyed").exists()


def test_a_stranger_cannot_destroy_or_extend_an_environment(active_preview, stranger):
    with pytest.raises(PermissionDenied):
        services.request_destroy(user=stranger, request_id=active_preview.pk, confirm="pr-7")
    with pytest.raises(PermissionDenied):
        services.request_extend(user=stranger, request_id=active_preview.pk, hours=1)


def test_a_failed_destroy_stays_in_view_and_can_be_retried(active_preview, developer, kube_emulator, monkeypatch):
    services.request_destroy(user=developer, request_id=active_preview.pk, confirm="pr-7")
    from provisioning import terraform

    monkeypatch.setattr(terraform, "find_binary", lambda: None)
    assert run_queued(active_preview) == ["failed"]
    assert active_preview.state == RequestState.FAILED
    with pytest.raises(services.IllegalTransition):
        services.request_cancel(user=developer, request_id=active_preview.pk)
    monkeypatch.undo()
    services.request_retry(user=developer, request_id=active_preview.pk)
    active_preview.refresh_from_db()
    assert active_preview.state == RequestState.DESTROYING
    assert run_queued(active_preview) == ["succeeded"]
    assert active_preview.state == RequestState.DESTROYED


def test_extending_stays_within_the_templates_maximum(active_preview, developer):
    request = active_preview
    activated = request.activated_at
    now = activated + timedelta(hours=1)
    services.request_extend(user=developer, request_id=request.pk, hours=24, now=now)
    request.refresh_from_db()
    assert request.expires_at == activated + timedelta(hours=48)
    with pytest.raises(services.RequestInvalid, match="hours") as excinfo:
        services.request_extend(user=developer, request_id=request.pk, hours=25, now=now)
    assert "at most 24 more hour" in str(excinfo.value.errors["hours"][0])
    services.request_extend(user=developer, request_id=request.pk, hours=24, now=now)
    request.refresh_from_db()
    assert request.expires_at == activated + timedelta(hours=72)


def test_a_one_day_environment_is_warned_once_at_a_tenth_of_its_life_then_destroyed(
    active_preview, developer, enqueued
):
    request = active_preview
    activated, expires = request.activated_at, request.expires_at
    assert expires - activated == timedelta(hours=24)

    def warnings():
        return list(
            Notification.objects.filter(user=developer, event="environment_expiring").values_list("body", flat=True)
        )

    # Seconds after it became active: nothing to say yet.
    assert services.environments_sweep(now=activated + timedelta(seconds=30)) == {"warned": 0, "destroyed": 0}
    assert services.environments_sweep(now=expires - timedelta(hours=3)) == {"warned": 0, "destroyed": 0}
    # 10 % of 24 hours is 2 h 24 min.
    assert services.environments_sweep(now=expires - timedelta(hours=2, minutes=20))["warned"] == 1
    assert services.environments_sweep(now=expires - timedelta(hours=1))["warned"] == 0
    assert services.environments_sweep(now=expires - timedelta(minutes=5))["warned"] == 0
    (body,) = warnings()
    assert "It expires in 2 h 20 min" in body
    assert services.environments_sweep(now=expires + timedelta(seconds=1)) == {"warned": 0, "destroyed": 1}
    request.refresh_from_db()
    assert request.state == RequestState.DESTROYING
    assert Run.objects.filter(request=request, kind=RunKind.DESTROY, status=RunStatus.QUEUED).count() == 1


def test_a_longer_life_is_warned_earlier_but_never_more_than_a_day_before_and_again_after_an_extension(
    active_preview, developer, enqueued
):
    request = active_preview
    activated = request.activated_at
    EnvironmentRequest.objects.filter(pk=request.pk).update(
        expires_at=activated + timedelta(hours=48),
        expiry_warn_at=services.expiry_warn_at(activated, activated + timedelta(hours=48)),
    )
    request.refresh_from_db()
    assert request.expires_at - request.expiry_warn_at == timedelta(hours=4, minutes=48)
    month = activated + timedelta(days=30)
    assert month - services.expiry_warn_at(activated, month) == timedelta(hours=24)
    assert services.environments_sweep(now=request.expires_at - timedelta(hours=5))["warned"] == 0
    now = request.expires_at - timedelta(hours=4, minutes=30)
    assert services.environments_sweep(now=now)["warned"] == 1
    services.request_extend(user=developer, request_id=request.pk, hours=24, now=now)
    request.refresh_from_db()
    assert request.expiry_warned_at is None
    # 72 hours in all: warned 7 h 12 min before the new end.
    assert services.environments_sweep(now=request.expires_at - timedelta(hours=8))["warned"] == 0
    assert services.environments_sweep(now=request.expires_at - timedelta(hours=7))["warned"] == 1


def test_drift_finds_a_changed_quota_and_a_deleted_deployment(active_preview, kube_emulator):
    request = active_preview
    assert runs.check_drift(request.pk) == {"kubernetes": [], "terraform": "none"}
    request.refresh_from_db()
    assert not request.is_drifted
    ns = request.namespace
    quota = kube_emulator.get("resourcequotas", "bridge-quota", ns)
    quota["spec"]["hard"]["pods"] = "99"
    kube_emulator.seed("resourcequotas", quota)
    kube_emulator.objects.pop(("apps", "deployments", ns, "checkout"))
    result = runs.check_drift(request.pk)
    assert "ResourceQuota/bridge-quota spec.hard.pods: expected '10', found '99'" in result["kubernetes"]
    assert "Deployment/checkout is missing" in result["kubernetes"]
    request.refresh_from_db()
    assert request.is_drifted and request.drift_checked_at <= timezone.now()


def crashing_pod(namespace: str, name: str = "checkout-1") -> dict:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [{"name": "web", "image": "x"}]},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "web",
                    "ready": False,
                    "restartCount": 4,
                    "image": "x",
                    "imageID": "",
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                }
            ],
        },
    }


def test_the_environment_page_shows_namespace_expiry_and_the_buttons(active_preview, login, developer):
    page = login(developer).get(f"/environments/requests/{active_preview.pk}/").content.decode()
    assert "bridge-preview-pr-7" in page
    assert f"{active_preview.expires_at:%Y-%m-%d %H:%M} UTC" in page and "at most 72 h in all" in page
    assert "Extend" in page and "Destroy" in page and "Check drift now" in page
    assert f'hx-get="/environments/requests/{active_preview.pk}/status/"' in page


def test_the_live_status_shows_a_crashing_pod_with_its_hint(
    active_preview, login, developer, kube_emulator, django_assert_max_num_queries
):
    kube_emulator.seed("pods", crashing_pod(active_preview.namespace))
    client = login(developer)
    with django_assert_max_num_queries(8):
        response = client.get(f"/environments/requests/{active_preview.pk}/status/", HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert "CrashLoopBackOff" in page and "crashes again and again" in page
    assert "0/2" in page  # the deployment: none of two replicas ready
    assert "<code>pods</code>" in page and "of 10" in page


def test_the_status_names_the_exact_error_when_the_cluster_is_down(active_preview, login, developer, kube_emulator):
    kube_emulator.stop()
    page = login(developer).get(f"/environments/requests/{active_preview.pk}/status/").content.decode()
    assert "The cluster could not be read" in page and "cluster unreachable" in page


def test_destroying_from_the_page_needs_the_name_typed(active_preview, login, developer, enqueued):
    client = login(developer)
    response = client.post(f"/environments/requests/{active_preview.pk}/destroy/", {"confirm": "nope"}, follow=True)
    assert "Type the environment&#x27;s name (pr-7) to confirm." in response.content.decode()
    active_preview.refresh_from_db()
    assert active_preview.state == RequestState.ACTIVE
    client.post(f"/environments/requests/{active_preview.pk}/destroy/", {"confirm": "pr-7"})
    active_preview.refresh_from_db()
    assert active_preview.state == RequestState.DESTROYING


def test_a_stranger_sees_no_environment_and_cannot_destroy_it(active_preview, login, stranger):
    client = login(stranger)
    assert client.get(f"/environments/requests/{active_preview.pk}/status/").status_code == 404
    assert client.post(f"/environments/requests/{active_preview.pk}/destroy/", {"confirm": "pr-7"}).status_code == 404
    active_preview.refresh_from_db()
    assert active_preview.state == RequestState.ACTIVE


def test_extending_from_the_page_beyond_the_maximum_says_how_much_is_left(active_preview, login, developer):
    response = login(developer).post(
        f"/environments/requests/{active_preview.pk}/extend/", {"hours": "500"}, follow=True
    )
    assert "The template allows 72 hours in all" in response.content.decode()


def test_drifted_environments_are_listed(active_preview, login, developer, kube_emulator):
    kube_emulator.objects.pop(("apps", "deployments", active_preview.namespace, "checkout"))
    runs.check_drift(active_preview.pk)
    page = login(developer).get("/environments/drifted/").content.decode()
    assert "pr-7" in page and "Deployment/checkout is missing" in page
    detail = login(developer).get(f"/environments/requests/{active_preview.pk}/").content.decode()
    assert "drifted" in detail and "Deployment/checkout is missing" in detail


def test_the_api_lists_environments_and_reads_their_status(active_preview, login, developer, kube_emulator):
    kube_emulator.seed("pods", crashing_pod(active_preview.namespace))
    client = login(developer)
    listed = client.get("/api/provisioning/environments/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [r["name"] for r in rows] == ["pr-7"]
    assert rows[0]["namespace"] == "bridge-preview-pr-7" and rows[0]["kubernetes_state"] == "applied"
    detail = client.get(f"/api/provisioning/environments/{active_preview.pk}/").json()
    assert detail["cluster"] == "default"
    found = client.get(f"/api/provisioning/environments/{active_preview.pk}/status/").json()
    pod = next(p for p in found["pods"] if p["name"] == "checkout-1")
    assert pod["problem"] == "CrashLoopBackOff" and "crashes" in pod["hint"]


def test_the_api_extends_and_destroys_with_the_same_rules(active_preview, login, developer, stranger, enqueued):
    url = f"/api/provisioning/environments/{active_preview.pk}"
    assert login(stranger).post(f"{url}/extend/", {"hours": 1}, content_type="application/json").status_code == 404
    client = login(developer)
    too_long = client.post(f"{url}/extend/", {"hours": 500}, content_type="application/json")
    assert too_long.status_code == 400 and "hours" in too_long.json()["error"]["details"]
    assert client.post(f"{url}/extend/", {"hours": 2}, content_type="application/json").status_code == 200
    unconfirmed = client.post(f"{url}/destroy/", {"confirm": "x"}, content_type="application/json")
    assert unconfirmed.status_code == 400
    done = client.post(f"{url}/destroy/", {"confirm": "pr-7"}, content_type="application/json")
    assert done.status_code == 200 and done.json()["state"] == "destroying"
    again = client.post(f"{url}/destroy/", {"confirm": "pr-7"}, content_type="application/json")
    assert again.status_code in (400, 409)


def test_a_platform_admin_tests_a_cluster_connection_from_the_admin(cluster, platform_admin, developer, login):
    platform_admin.is_staff = True
    platform_admin.save()
    down = Cluster.objects.create(name="down", context="no-such-context", kubeconfig=cluster.kubeconfig)
    client = login(platform_admin)
    response = client.post(
        "/admin/provisioning/cluster/",
        {"action": "test_connection", "_selected_action": [cluster.pk, down.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert "Default: Connected: Kubernetes v1.31.0-bridge-emulator" in page
    assert "Down: Failed: cannot configure cluster down:" in page and "no-such-context" in page
    cluster.refresh_from_db()
    assert cluster.last_check_result.startswith("Connected")
    with pytest.raises(PermissionDenied):
        services.cluster_test(user=developer, cluster_id=cluster.pk)


def test_a_template_naming_an_unsupported_manifest_kind_is_refused(tmp_path):
    from provisioning import library

    source = library.Path(__file__).resolve().parent.parent.parent / "provisioning/environment_templates/preview"
    target = tmp_path / "preview"
    target.mkdir()
    (target / "main.tf").write_text((source / "main.tf").read_text())
    descriptor = (source / "bridge-template.yaml").read_text().replace("kind: ConfigMap", "kind: ClusterRole")
    (target / "bridge-template.yaml").write_text(descriptor)
    with pytest.raises(library.TemplateProblem, match="ClusterRole is not a kind Bridge applies"):
        library.read_template(target)


@pytest.fixture
def local_state(settings):
    settings.PROVISIONING_STATE_BACKEND = "local"


def test_a_leftover_state_lock_is_reported_and_only_an_admin_releases_it(
    local_state, active_preview, developer, platform_admin, login, monkeypatch
):
    import json

    from provisioning import terraform

    services.request_destroy(user=developer, request_id=active_preview.pk, confirm="pr-7")
    monkeypatch.setattr(terraform, "find_binary", lambda: None)  # the destroy fails as if the worker had died
    run_queued(active_preview)
    monkeypatch.undo()
    assert active_preview.state == RequestState.FAILED
    lock_id = "3a4ba2a4-0d7a-1b4c-9f0e-5a7e1c2d3b4f"
    (runs.working_dir(active_preview) / runs.LOCK_INFO).write_text(
        json.dumps({"ID": lock_id, "Operation": "OperationTypeApply", "Who": "worker@host", "Created": "2026-11-26"})
    )
    page = login(developer).get(f"/environments/requests/{active_preview.pk}/").content.decode()
    assert lock_id in page and "Ask a Platform Admin" in page
    with pytest.raises(PermissionDenied):
        services.request_release_lock(user=developer, request_id=active_preview.pk, lock_id=lock_id, confirm=True)
    client = login(platform_admin)
    unconfirmed = client.post(
        f"/environments/requests/{active_preview.pk}/release-lock/", {"lock_id": lock_id}, follow=True
    ).content.decode()
    assert "Confirm that no Terraform process holds this lock." in unconfirmed
    assert runs.state_lock(active_preview)["id"] == lock_id
    done = client.post(
        f"/environments/requests/{active_preview.pk}/release-lock/", {"lock_id": lock_id, "confirm": "yes"}, follow=True
    ).content.decode()
    assert f"Lock {lock_id} released." in done, done[:3000]
    assert runs.state_lock(active_preview) is None


def test_extending_updates_the_namespaces_expiry_label(active_preview, developer, kube_emulator, monkeypatch):
    from provisioning import tasks

    monkeypatch.setattr(tasks.relabel_namespace, "delay", lambda pk: tasks.relabel_namespace.apply(args=[pk]))
    services.request_extend(user=developer, request_id=active_preview.pk, hours=5)
    active_preview.refresh_from_db()
    labels = kube_emulator.get("namespaces", active_preview.namespace)["metadata"]["labels"]
    assert labels["bridge.dev/expires"] == f"{active_preview.expires_at:%Y-%m-%dT%H%MZ}"
    assert labels["bridge.dev/team"] == "payments"


@pytest.mark.worker
def test_a_real_worker_applies_to_the_cluster_then_destroys_namespace_and_terraform(
    celery_worker, shipped_templates, developer, team, cluster, kube_emulator
):
    from tests.worker import wait_for

    def state_in(*states):
        return lambda: EnvironmentRequest.objects.filter(pk=request.pk, state__in=states).first()

    request = submit(developer, shipped_templates["preview"], name="wk-1", team=team, app="checkout")
    active = wait_for(state_in(RequestState.ACTIVE, RequestState.FAILED), timeout=120)
    assert active is not None and active.state == RequestState.ACTIVE, active and active.failure_reason
    assert active.kubernetes_state == "applied"
    assert kube_emulator.get("deployments", "checkout", active.namespace, group="apps") is not None
    services.request_destroy(user=developer, request_id=request.pk, confirm="wk-1")
    gone = wait_for(state_in(RequestState.DESTROYED, RequestState.FAILED), timeout=120)
    assert gone is not None and gone.state == RequestState.DESTROYED, gone and gone.failure_reason
    assert kube_emulator.get("namespaces", active.namespace) is None
    lines = log_of(Run.objects.get(request=request, kind=RunKind.DESTROY))
    assert lines.index(f"kubernetes: namespace {active.namespace} deleted") < next(
        i for i, line in enumerate(lines) if line.startswith("$ terraform destroy")
    )


def test_a_destroy_whose_worker_died_is_marked_failed_and_stays_in_view(active_preview, developer, login):
    services.request_destroy(user=developer, request_id=active_preview.pk, confirm="pr-7")
    run = active_preview.runs.get(kind=RunKind.DESTROY)
    services.run_claim(run_id=run.pk, worker="gone-host:1")
    later = timezone.now() + timedelta(hours=1)
    assert services.runs_reap_dead(now=later) == 1  # a worker on gone-host is asked to take over
    assert services.runs_reap_dead(now=later + timedelta(hours=1)) == 1  # none did
    active_preview.refresh_from_db()
    assert active_preview.state == RequestState.FAILED
    assert "No worker on gone-host took the run over" in active_preview.failure_reason
    assert "Interrupted: state may be incomplete" in active_preview.failure_reason
    listing = login(developer).get("/environments/").content.decode()
    assert "pr-7" in listing
    page = login(developer).get(f"/environments/requests/{active_preview.pk}/").content.decode()
    assert "Retry the destroy" in page and "Cancel request" not in page


def test_the_drift_button_queues_a_check_for_the_team_only(active_preview, developer, stranger, login, monkeypatch):
    from provisioning import tasks

    queued = []
    monkeypatch.setattr(tasks.check_drift, "delay", queued.append)
    assert login(stranger).post(f"/environments/requests/{active_preview.pk}/drift/").status_code == 404
    login(developer).post(f"/environments/requests/{active_preview.pk}/drift/")
    assert queued == [active_preview.pk]


def test_a_drift_check_never_runs_terraform_beside_a_running_destroy(active_preview, developer):
    services.request_destroy(user=developer, request_id=active_preview.pk, confirm="pr-7")
    assert "skipped" in runs.check_drift(active_preview.pk)
    active_preview.refresh_from_db()
    assert active_preview.drift_checked_at is None


def test_operators_check_drift_and_run_the_sweep_from_the_command_line(active_preview, kube_emulator):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    request = active_preview
    out = StringIO()
    call_command("environments_drift", "--request", str(request.pk), stdout=out)
    assert f"pr-7 (#{request.pk}): in sync" in out.getvalue()
    quota = kube_emulator.get("resourcequotas", "bridge-quota", request.namespace)
    quota["spec"]["hard"]["pods"] = "99"
    kube_emulator.seed("resourcequotas", quota)
    out = StringIO()
    call_command("environments_drift", stdout=out)
    assert f"pr-7 (#{request.pk}): drifted" in out.getvalue()
    assert "kubernetes: ResourceQuota/bridge-quota spec.hard.pods: expected '10', found '99'" in out.getvalue()
    assert "1 environment(s) checked, 1 drifted." in out.getvalue()
    with pytest.raises(CommandError, match="No request 999999"):
        call_command("environments_drift", "--request", "999999")
    out = StringIO()
    call_command("environments_sweep", stdout=out)
    assert "0 environment(s) warned, 0 expired environment(s) being destroyed" in out.getvalue()


def test_a_failed_apply_offers_to_destroy_what_was_created_and_leaves_nothing_behind(
    shipped_templates, developer, team, enqueued, cluster, kube_emulator, login
):
    request = submit(developer, shipped_templates["preview"], name="pr-9", team=team, app="checkout")
    run_queued(request)  # the plan, approved by the template
    # Between the plan and the apply, another environment takes the namespace: Terraform applies,
    # then the Kubernetes step fails.
    kube_emulator.seed(
        "namespaces", {"metadata": {"name": "bridge-preview-pr-9", "labels": {"bridge.dev/environment": "4242"}}}
    )
    assert run_queued(request) == ["failed"]
    assert request.state == RequestState.FAILED and "belongs to environment #4242" in request.failure_reason
    page = login(developer).get(f"/environments/requests/{request.pk}/").content.decode()
    assert "Destroy what was created" in page
    with pytest.raises(services.IllegalTransition, match="Destroy what was created"):
        services.request_cancel(user=developer, request_id=request.pk)
    services.request_destroy(user=developer, request_id=request.pk, confirm="pr-9")
    assert run_queued(request) == ["succeeded"]
    assert request.state == RequestState.DESTROYED
    destroy = request.runs.get(kind=RunKind.DESTROY)
    assert any("not deleted" in line and "#4242" in line for line in log_of(destroy))
    assert kube_emulator.get("namespaces", "bridge-preview-pr-9") is not None  # not ours: left alone
    assert not runs.working_dir(request).exists()


def test_the_cleanup_removes_what_ended_requests_leave_but_keeps_state_an_apply_may_need(
    shipped_templates, test_templates, developer, approver, enqueued
):
    rejected = submit(developer, test_templates["slow"], name="nope", n=2, k=1)
    run_queued(rejected)
    services.request_reject(user=approver, request_id=rejected.pk, comment="Not now.")
    assert runs.working_dir(rejected).is_dir()
    active = submit(developer, shipped_templates["preview"], name="pr-11", app="checkout")
    run_queued(active)
    run_queued(active)
    (runs.working_dir(active) / "bridge.tfvars.json").write_text("{}")  # left by a run that was killed
    assert runs.workdirs_cleanup() == {"removed": 1, "variables": 1}
    assert not runs.working_dir(rejected).exists()
    assert runs.working_dir(active).is_dir() and not (runs.working_dir(active) / "bridge.tfvars.json").exists()


def test_re_applying_a_drifted_environment_plans_again_and_restores_it_keeping_its_lifetime(
    active_preview, developer, stranger, kube_emulator, login
):
    request = active_preview
    expires = request.expires_at
    quota = kube_emulator.get("resourcequotas", "bridge-quota", request.namespace)
    quota["spec"]["hard"]["pods"] = "99"
    kube_emulator.seed("resourcequotas", quota)
    runs.check_drift(request.pk)
    request.refresh_from_db()
    page = login(developer).get(f"/environments/requests/{request.pk}/").content.decode()
    assert request.is_drifted and "Re-apply the template" in page
    with pytest.raises(PermissionDenied):
        services.request_reapply(user=stranger, request_id=request.pk)
    login(developer).post(f"/environments/requests/{request.pk}/reapply/")
    request.refresh_from_db()
    assert request.state == RequestState.SUBMITTED
    assert run_queued(request) == ["succeeded"]  # the plan; the preview template approves itself
    assert run_queued(request) == ["succeeded"]  # the apply
    assert request.state == RequestState.ACTIVE and request.expires_at == expires and not request.is_drifted
    assert kube_emulator.get("resourcequotas", "bridge-quota", request.namespace)["spec"]["hard"]["pods"] == "10"
    assert request.transitions.last().note == "Re-applied: the environment is active."


def test_a_declined_re_apply_leaves_the_environment_active_as_it_was(test_templates, developer, approver, enqueued):
    request = submit(developer, test_templates["slow"], name="reapply-me", n=2, k=1)
    run_queued(request)
    services.request_approve(user=approver, request_id=request.pk)
    run_queued(request)
    assert request.state == RequestState.ACTIVE
    services.request_reapply(user=developer, request_id=request.pk)
    run_queued(request)
    assert request.state == RequestState.AWAITING_APPROVAL
    services.request_reject(user=approver, request_id=request.pk, comment="Not during the freeze.")
    request.refresh_from_db()
    assert request.state == RequestState.ACTIVE
    assert "Re-apply rejected" in request.transitions.last().note
    services.request_reapply(user=developer, request_id=request.pk)
    services.request_cancel(user=developer, request_id=request.pk)
    request.refresh_from_db()
    assert request.state == RequestState.ACTIVE


def test_the_team_sandbox_applies_a_quota_that_follows_the_size_and_the_members(
    shipped_templates, developer, approver, team, enqueued, cluster, kube_emulator
):
    request = submit(developer, shipped_templates["team-sandbox"], name="sbx-q", team=team, size="medium", members=5)
    run_queued(request)
    services.request_approve(user=approver, request_id=request.pk)
    run_queued(request)
    assert request.state == RequestState.ACTIVE, request.failure_reason
    namespace = "bridge-sandbox-sbx-q"
    assert request.outputs["namespace"]["value"] == namespace == request.namespace
    hard = kube_emulator.get("resourcequotas", "bridge-quota", namespace)["spec"]["hard"]
    # medium: 4 CPU, 8 GiB, 50 GiB; two members beyond the third add a CPU and 2 GiB.
    assert hard == {
        "requests.cpu": "5",
        "limits.cpu": "5",
        "requests.memory": "10Gi",
        "limits.memory": "10Gi",
        "requests.storage": "50Gi",
        "pods": "50",
    }


def test_quota_values_take_placeholders(shipped_templates, developer, team, enqueued, cluster, kube_emulator, tmp_path):
    import shutil

    from provisioning.models import EnvironmentTemplate

    shutil.copytree(settings_templates_dir() / "preview", tmp_path / "preview")
    descriptor = tmp_path / "preview" / "bridge-template.yaml"
    descriptor.write_text(descriptor.read_text().replace('pods: "10"', 'pods: "${replicas}0"'))
    services.templates_reload(directory=tmp_path)
    template = EnvironmentTemplate.objects.get(name="preview")
    request = submit(developer, template, name="pr-q", team=team, app="checkout", replicas=3)
    run_queued(request)
    run_queued(request)
    assert request.state == RequestState.ACTIVE, request.failure_reason
    assert kube_emulator.get("resourcequotas", "bridge-quota", request.namespace)["spec"]["hard"]["pods"] == "30"


def settings_templates_dir():
    from django.conf import settings

    return settings.PROVISIONING_TEMPLATES_DIR
