"""The Kubernetes half of a plan: listed for approvers, checked against the schemas and the cluster first."""

import shutil

import pytest
from django.urls import reverse

from provisioning import kubernetes as kube
from provisioning import services
from provisioning.models import Cluster, EnvironmentTemplate, RequestState
from tests.provisioning.conftest import TEST_TEMPLATES, run_queued, submit
from tests.provisioning.test_kubernetes_adapter import env_objects

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cluster(kube_connection):
    return Cluster.objects.create(
        name="default", context="emulator", kubeconfig=kube_connection.kubeconfig, namespace_prefix="bridge-"
    )


def _stored(kube_emulator) -> list[tuple]:
    return sorted(
        key for key in kube_emulator.objects if key[1] != "namespaces" or key[3] not in ("default", "kube-system")
    )


def test_the_plan_lists_the_kubernetes_objects_beside_the_terraform_changes(
    shipped_templates, developer, approver, team, enqueued, cluster, kube_emulator, login
):
    request = submit(developer, shipped_templates["team-sandbox"], name="sbx-k", team=team, size="small", members=3)
    assert run_queued(request) == ["succeeded"]
    assert request.state == RequestState.AWAITING_APPROVAL, request.failure_reason
    plan = request.plan_summary["kubernetes"]
    assert (plan["cluster"], plan["namespace"], plan["create"], plan["update"], plan["delete"]) == (
        "default",
        "bridge-sandbox-sbx-k",
        3,
        0,
        0,
    )
    assert [(o["kind"], o["name"], o["action"]) for o in plan["objects"]] == [
        ("Namespace", "bridge-sandbox-sbx-k", "create"),
        ("ResourceQuota", "bridge-quota", "create"),
        ("RoleBinding", "bridge-team-access", "create"),
    ]
    assert plan["note"] == "server-side dry-run in namespace default: every object accepted"
    assert _stored(kube_emulator) == []  # the dry-run stored nothing
    assert any("dryRun=All" in path for method, path in kube_emulator.requests if method == "POST")

    page = login(approver).get(reverse("provisioning:approvals")).content.decode()
    assert "+3 to create" in page and "bridge-team-access" in page and "RoleBinding" in page
    assert "granted the ClusterRole <code>admin</code>" in page
    detail = login(developer).get(reverse("provisioning:request", args=[request.pk])).content.decode()
    assert "+3 to create" in detail and "+0 to add" in detail


def test_an_invalid_object_name_is_refused_when_the_template_loads(tmp_path, db):
    shutil.copytree(TEST_TEMPLATES / "internal", tmp_path / "internal")
    descriptor = tmp_path / "internal" / "bridge-template.yaml"
    descriptor.write_text(
        descriptor.read_text()
        + "kubernetes:\n  clusters: [default]\n  manifests:\n"
        + "    - {apiVersion: v1, kind: ConfigMap, metadata: {name: orders_db-conn}, data: {a: b}}\n"
    )
    (result,) = services.templates_reload(directory=tmp_path)
    assert result.status == "rejected"
    assert "ConfigMap orders_db-conn: metadata.name 'orders_db-conn' is not an RFC 1123 subdomain" in result.message


@pytest.mark.parametrize(
    ("manifest", "reason"),
    [
        ("{apiVersion: apps/v1, kind: Deployment, metadata: {name: web}, spec: {replicas: many}}", "replicas"),
        ("{apiVersion: v1, kind: ConfigMap, metadata: {name: x}, dta: {a: b}}", "'dta' was unexpected"),
        ("{apiVersion: v1, kind: Service, metadata: {name: 1-web}, spec: {ports: [{port: 80}]}}", "RFC 1035"),
    ],
)
def test_objects_the_kubernetes_schemas_refuse_are_refused_when_the_template_loads(tmp_path, db, manifest, reason):
    shutil.copytree(TEST_TEMPLATES / "internal", tmp_path / "internal")
    descriptor = tmp_path / "internal" / "bridge-template.yaml"
    descriptor.write_text(
        descriptor.read_text() + f"kubernetes:\n  clusters: [default]\n  manifests:\n    - {manifest}\n"
    )
    (result,) = services.templates_reload(directory=tmp_path)
    assert result.status == "rejected"
    assert reason in result.message


def _template_with_conn_map(tmp_path) -> EnvironmentTemplate:
    shutil.copytree(TEST_TEMPLATES / "internal", tmp_path / "internal")
    descriptor = tmp_path / "internal" / "bridge-template.yaml"
    descriptor.write_text(
        descriptor.read_text()
        + "kubernetes:\n  clusters: [default]\n  manifests:\n"
        + "    - {apiVersion: v1, kind: ConfigMap, metadata: {name: '${app}-conn'}, data: {APP: '${app}'}}\n"
    )
    (result,) = services.templates_reload(directory=tmp_path)
    assert result.status == "created", result.message
    return EnvironmentTemplate.objects.get(name="internal")


def test_a_name_made_invalid_by_a_value_fails_the_plan_before_anything_is_applied(
    tmp_path, developer, enqueued, cluster, kube_emulator
):
    template = _template_with_conn_map(tmp_path)
    request = submit(developer, template, name="shop", app="orders_db")
    assert run_queued(request) == ["failed"]
    assert request.state == RequestState.FAILED
    assert "ConfigMap orders_db-conn: metadata.name 'orders_db-conn' is not an RFC 1123 subdomain" in (
        request.failure_reason
    )
    assert request.runs.count() == 1  # no apply was ever queued
    assert _stored(kube_emulator) == []


def test_a_server_side_dry_run_finds_what_only_the_cluster_knows(tmp_path, developer, enqueued, cluster, kube_emulator):
    template = _template_with_conn_map(tmp_path)
    kube_emulator.denied["ConfigMap"] = "ConfigMaps need the label team"
    request = submit(developer, template, name="shop", app="orders")
    assert run_queued(request) == ["failed"]
    assert "ConfigMap orders-conn: the cluster refused it" in request.failure_reason
    assert "ConfigMaps need the label team" in request.failure_reason
    assert _stored(kube_emulator) == []


def test_without_server_side_dry_run_the_plan_only_compares(tmp_path, developer, enqueued, cluster, kube_emulator):
    template = _template_with_conn_map(tmp_path)
    Cluster.objects.filter(pk=cluster.pk).update(server_dry_run=False)
    kube_emulator.denied["ConfigMap"] = "ConfigMaps need the label team"  # not asked, so not known yet
    request = submit(developer, template, name="shop", app="orders")
    assert run_queued(request) == ["succeeded"]  # plan, auto-approved
    assert request.plan_summary["kubernetes"]["note"] == "Server-side dry-run is off for this cluster."
    assert not any("dryRun" in path for _method, path in kube_emulator.requests)


def test_an_unreachable_cluster_at_plan_time_is_a_note_not_a_failure(tmp_path, developer, enqueued, cluster):
    template = _template_with_conn_map(tmp_path)
    Cluster.objects.filter(pk=cluster.pk).update(context="no-such-context")
    request = submit(developer, template, name="shop", app="orders")
    run = request.runs.get()
    from provisioning import runs

    runs.execute(run.pk)
    request.refresh_from_db()
    plan = request.plan_summary["kubernetes"]
    assert "could not be reached" in plan["note"]
    assert [o["action"] for o in plan["objects"]] == ["create", "create"]


def test_a_plan_against_an_existing_namespace_names_what_changes_and_what_goes(kube_connection, kube_emulator):
    kube.apply_environment(kube_connection, env_objects(), lambda line: None)
    changed = env_objects(quota={"requests.cpu": "4"})
    changed.manifests = [m for m in changed.manifests if m["kind"] != "ConfigMap"]
    plan = kube.plan_environment(kube_connection, changed)
    actions = {(c.kind, c.name): c.action for c in plan.changes}
    assert actions == {
        ("Namespace", "bridge-preview-42"): "no-op",
        ("ResourceQuota", "bridge-quota"): "update",
        ("LimitRange", "bridge-limits"): "no-op",
        ("RoleBinding", "bridge-team-access"): "no-op",
        ("Deployment", "web"): "no-op",
        ("ConfigMap", "app-settings"): "delete",
    }
    assert plan.problems == []
    lines = []
    kube.apply_environment(kube_connection, changed, lines.append)
    assert "kubernetes: ConfigMap bridge-preview-42/app-settings deleted (no longer in the template)" in lines
    assert kube_emulator.get("configmaps", "app-settings", "bridge-preview-42") is None
