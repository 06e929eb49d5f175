"""The Kubernetes adapter against the emulator, through the official client over HTTP."""

import pytest

from provisioning import kubernetes as kube
from provisioning.kubernetes import ClusterConnection, ClusterError, EnvironmentObjects


def env_objects(**overrides) -> EnvironmentObjects:
    spec = EnvironmentObjects(
        namespace="bridge-preview-42",
        labels={
            "bridge.dev/environment": "42",
            "bridge.dev/team": "team-payments",
            "bridge.dev/template": "preview",
            "bridge.dev/expires": "2026-12-01",
        },
        quota={"requests.cpu": "2", "requests.memory": "4Gi", "pods": "20"},
        limits=[
            {
                "type": "Container",
                "default": {"cpu": "500m", "memory": "512Mi"},
                "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
            }
        ],
        team_group="team-payments",
        team_role="edit",
        manifests=[
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "app-settings"},
                "data": {"DATABASE_HOST": "db.preview-42.internal"},
            },
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
                    },
                },
            },
        ],
    )
    for key, value in overrides.items():
        setattr(spec, key, value)
    return spec


def test_the_server_version_is_read_through_the_kubeconfig_context(kube_connection):
    assert kube.server_version(kube_connection) == "v1.31.0-bridge-emulator"


def test_an_unreachable_cluster_gives_the_exact_error(tmp_path):
    kubeconfig = tmp_path / "kubeconfig.yaml"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "current-context: x\n"
    )
    with pytest.raises(ClusterError, match="cluster unreachable"):
        kube.server_version(ClusterConnection(name="down", context="x", kubeconfig=str(kubeconfig)))


def test_an_unknown_context_is_named_in_the_error(kube_connection):
    broken = ClusterConnection(name="prod", context="no-such-context", kubeconfig=kube_connection.kubeconfig)
    with pytest.raises(ClusterError, match="no-such-context"):
        kube.server_version(broken)


def test_applying_creates_namespace_quota_limits_role_binding_and_manifests(kube_connection, kube_emulator):
    lines = []
    kube.apply_environment(kube_connection, env_objects(), lines.append)

    namespace = kube_emulator.get("namespaces", "bridge-preview-42")
    assert namespace["status"]["phase"] == "Active"
    assert namespace["metadata"]["labels"]["bridge.dev/team"] == "team-payments"
    quota = kube_emulator.get("resourcequotas", "bridge-quota", "bridge-preview-42")
    assert quota["spec"]["hard"]["requests.memory"] == "4Gi"
    limits = kube_emulator.get("limitranges", "bridge-limits", "bridge-preview-42")
    assert limits["spec"]["limits"][0]["default"]["cpu"] == "500m"
    binding = kube_emulator.get(
        "rolebindings", "bridge-team-access", "bridge-preview-42", group="rbac.authorization.k8s.io"
    )
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "team-payments"}]
    assert binding["roleRef"]["name"] == "edit"
    deployment = kube_emulator.get("deployments", "web", "bridge-preview-42", group="apps")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "bridge"
    assert lines[0] == "kubernetes: namespace bridge-preview-42 created"
    assert "kubernetes: Deployment bridge-preview-42/web created" in lines


def test_applying_again_updates_in_place_without_duplicates(kube_connection, kube_emulator):
    kube.apply_environment(kube_connection, env_objects(), lambda line: None)
    uid = kube_emulator.get("deployments", "web", "bridge-preview-42", group="apps")["metadata"]["uid"]
    lines = []
    kube.apply_environment(kube_connection, env_objects(quota={"requests.cpu": "4"}), lines.append)

    assert "kubernetes: namespace bridge-preview-42 updated" in lines
    assert "kubernetes: ResourceQuota bridge-preview-42/bridge-quota updated" in lines
    assert (
        kube_emulator.get("resourcequotas", "bridge-quota", "bridge-preview-42")["spec"]["hard"]["requests.cpu"] == "4"
    )
    assert kube_emulator.get("deployments", "web", "bridge-preview-42", group="apps")["metadata"]["uid"] == uid
    assert len(kube_emulator.list("deployments", "bridge-preview-42", group="apps")) == 1


def test_an_unsupported_manifest_kind_is_refused_by_name(kube_connection):
    spec = env_objects(manifests=[{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "evil"}}])
    with pytest.raises(ClusterError, match="Node is not a kind Bridge applies"):
        kube.apply_environment(kube_connection, spec, lambda line: None)


def test_status_shows_deployments_pods_with_hints_warnings_and_quota(kube_connection, kube_emulator):
    kube.apply_environment(kube_connection, env_objects(), lambda line: None)
    kube_emulator.seed(
        "deployments",
        {
            "metadata": {"name": "web", "namespace": "bridge-preview-42"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
                },
            },
            "status": {"replicas": 2, "readyReplicas": 1},
        },
        group="apps",
        api_version="apps/v1",
    )
    kube_emulator.seed(
        "pods",
        {
            "metadata": {"name": "web-1", "namespace": "bridge-preview-42"},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            "status": {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "web",
                        "ready": False,
                        "restartCount": 7,
                        "image": "nginx:1.27",
                        "imageID": "",
                        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
                    }
                ],
            },
        },
    )
    kube_emulator.seed(
        "pods",
        {
            "metadata": {"name": "web-2", "namespace": "bridge-preview-42"},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            "status": {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "web",
                        "ready": True,
                        "restartCount": 0,
                        "image": "nginx:1.27",
                        "imageID": "",
                        "state": {"running": {"startedAt": "2026-11-26T10:00:00Z"}},
                    }
                ],
            },
        },
    )
    kube_emulator.seed(
        "events",
        {
            "metadata": {"name": "web-1.1", "namespace": "bridge-preview-42"},
            "involvedObject": {"kind": "Pod", "name": "web-1"},
            "reason": "BackOff",
            "type": "Warning",
            "message": "Back-off restarting failed container",
        },
    )

    status = kube.read_status(kube_connection, "bridge-preview-42")

    assert status.phase == "Active"
    assert [(d.name, d.ready, d.desired) for d in status.deployments] == [("web", 1, 2)]
    crashing = next(p for p in status.pods if p.name == "web-1")
    assert (crashing.problem, crashing.restarts, crashing.ready) == ("CrashLoopBackOff", 7, False)
    assert "crashes again and again" in crashing.hint
    healthy = next(p for p in status.pods if p.name == "web-2")
    assert healthy.ready and not healthy.problem
    assert status.warnings == ["BackOff web-1: Back-off restarting failed container"]
    assert status.quota["pods"] == {"hard": "20", "used": "0"}


def test_status_of_a_missing_namespace_says_so(kube_connection):
    status = kube.read_status(kube_connection, "bridge-never-created")
    assert status.phase == "Missing"
    assert not status.exists


def test_deleting_waits_until_the_namespace_and_its_objects_are_gone(kube_connection, kube_emulator):
    kube.apply_environment(kube_connection, env_objects(), lambda line: None)
    lines = []
    kube.delete_namespace(kube_connection, "bridge-preview-42", lines.append, poll=0.01)
    assert lines == [
        "kubernetes: namespace bridge-preview-42 deletion requested",
        "kubernetes: namespace bridge-preview-42 deleted",
    ]
    assert kube_emulator.get("namespaces", "bridge-preview-42") is None
    assert kube_emulator.list("deployments", "bridge-preview-42", group="apps") == []


def test_deleting_a_namespace_that_is_already_gone_is_not_an_error(kube_connection):
    lines = []
    kube.delete_namespace(kube_connection, "bridge-gone", lines.append, poll=0.01)
    assert lines == ["kubernetes: namespace bridge-gone already gone"]


def test_drift_is_empty_right_after_applying_and_names_each_change(kube_connection, kube_emulator):
    spec = env_objects()
    kube.apply_environment(kube_connection, spec, lambda line: None)
    assert kube.detect_drift(kube_connection, spec) == []

    kube_emulator.seed(
        "resourcequotas",
        {
            "metadata": {"name": "bridge-quota", "namespace": "bridge-preview-42"},
            "spec": {"hard": {"requests.cpu": "64", "requests.memory": "4Gi", "pods": "20"}},
        },
    )
    deployment = kube_emulator.get("deployments", "web", "bridge-preview-42", group="apps")
    kube_emulator.objects.pop(("apps", "deployments", "bridge-preview-42", "web"))
    assert deployment is not None

    drift = kube.detect_drift(kube_connection, spec)
    assert "ResourceQuota/bridge-quota spec.hard.requests.cpu: expected '2', found '64'" in drift
    assert "Deployment/web is missing" in drift


def test_drift_reports_a_deleted_namespace(kube_connection):
    assert kube.detect_drift(kube_connection, env_objects()) == ["namespace bridge-preview-42 is missing"]


def test_substitution_fills_placeholders_and_keeps_types():
    manifest = {
        "metadata": {"name": "${env_name}-web"},
        "spec": {"replicas": "${replicas}"},
        "data": {"url": "https://${host}/x", "literal": "$HOME stays"},
    }
    result = kube.substitute(manifest, {"env_name": "preview-42", "replicas": 3, "host": "db.internal"})
    assert result == {
        "metadata": {"name": "preview-42-web"},
        "spec": {"replicas": 3},
        "data": {"url": "https://db.internal/x", "literal": "$HOME stays"},
    }


def test_substitution_refuses_unknown_placeholders_and_runs_no_code():
    with pytest.raises(kube.SubstitutionError, match="malformed placeholder"):
        kube.substitute({"x": "${__import__('os').system('id')}"}, {})
    with pytest.raises(kube.SubstitutionError, match=r"\$\{missing\}"):
        kube.substitute({"x": "a-${missing}"}, {"present": 1})


def test_a_namespace_another_environment_owns_is_never_taken_over(kube_connection, kube_emulator):
    kube.apply_environment(kube_connection, env_objects(), lambda line: None)
    intruder = env_objects(labels={"bridge.dev/environment": "43", "bridge.dev/team": "team-other"})
    with pytest.raises(kube.ClusterError, match="belongs to environment #42"):
        kube.apply_environment(kube_connection, intruder, lambda line: None)
    namespace = kube_emulator.get("namespaces", "bridge-preview-42")
    assert namespace["metadata"]["labels"]["bridge.dev/team"] == "team-payments"


def test_a_namespace_bridge_did_not_create_is_not_adopted(kube_connection, kube_emulator):
    kube_emulator.seed("namespaces", {"metadata": {"name": "bridge-preview-42", "labels": {"team": "dba"}}})
    with pytest.raises(kube.ClusterError, match="Bridge did not create it"):
        kube.apply_environment(kube_connection, env_objects(), lambda line: None)
    assert kube_emulator.list("resourcequotas", "bridge-preview-42") == []


def test_an_environment_reapplied_updates_its_own_namespace(kube_connection, kube_emulator):
    lines = []
    kube.apply_environment(kube_connection, env_objects(), lines.append)
    kube.apply_environment(kube_connection, env_objects(), lines.append)
    assert "kubernetes: namespace bridge-preview-42 updated" in lines


def test_destroying_one_environment_never_deletes_another_environments_namespace(kube_connection, kube_emulator):
    kube.apply_environment(kube_connection, env_objects(), lambda line: None)
    lines = []
    kube.delete_namespace(kube_connection, "bridge-preview-42", lines.append, owner="43", poll=0.01)
    assert kube_emulator.get("namespaces", "bridge-preview-42") is not None
    assert "belongs to environment #42" in lines[0]
    kube.delete_namespace(kube_connection, "bridge-preview-42", lines.append, owner="42", poll=0.01)
    assert kube_emulator.get("namespaces", "bridge-preview-42") is None
