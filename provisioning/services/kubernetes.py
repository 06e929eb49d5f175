"""The Kubernetes side of an environment: cluster, namespace, objects, connection test."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from portal.services import PermissionDenied, ServiceError, audit_record
from provisioning import permissions
from provisioning.models import (
    EnvironmentRequest,
    TemplateVersion,
)


@dataclass(frozen=True)
class KubernetesOutcome:
    """What the Kubernetes step of an apply did: applied, skipped (with the reason) or failed."""

    state: str
    note: str
    cluster_id: int | None = None
    namespace: str = ""


NAMESPACE_MAX = 63
NAMESPACE_HASH = 8


class KubernetesSkipped(Exception):
    """The Kubernetes step does not apply to this environment; the message says why."""


def clusters_offered(version: TemplateVersion) -> list:
    """The registered, active clusters the template names, in the template's order (the first is the default)."""
    from provisioning.models import Cluster

    names = (version.kubernetes or {}).get("clusters") or []
    clusters = {c.name: c for c in Cluster.objects.filter(name__in=names, is_active=True)}
    return [clusters[name] for name in names if name in clusters]


def cluster_for(version: TemplateVersion):
    """The first active registered cluster the template names, or KubernetesSkipped with the reason."""
    section = version.kubernetes or {}
    if not section:
        raise KubernetesSkipped("the template has no kubernetes section")
    names = section.get("clusters") or []
    if not names:
        raise KubernetesSkipped("the template names no cluster (kubernetes.clusters)")
    offered = clusters_offered(version)
    if offered:
        return offered[0]
    raise KubernetesSkipped(
        f"no cluster configured: none of the template's clusters ({', '.join(names)}) is registered and active"
    )


class ClusterUnavailable(ServiceError):
    """The cluster chosen for the request can no longer be used."""


def cluster_of(request: EnvironmentRequest):
    """The cluster of this environment: the one chosen (or given) at submission, else the template's first.

    Raises KubernetesSkipped when the environment has no cluster, and ClusterUnavailable when
    the chosen cluster was deactivated or dropped from the template since.
    """
    if not request.cluster_id:
        return cluster_for(request.template_version)
    cluster = request.cluster
    if not cluster.is_active or cluster.name not in ((request.template_version.kubernetes or {}).get("clusters") or []):
        raise ClusterUnavailable(
            f"Cluster {cluster.name}, chosen for this environment, is no longer offered by the template or active. "
            "Ask a Platform Admin, or cancel and request it again on another cluster."
        )
    return cluster


def cluster_choose(version: TemplateVersion, name: str | None) -> tuple[object | None, list[str]]:
    """(the cluster for a new request, errors): the one named, within what the template offers, or its first."""
    offered = clusters_offered(version)
    if name in (None, ""):
        return (offered[0] if offered else None), []
    if not isinstance(name, str):
        return None, ["Give the cluster's name."]
    for cluster in offered:
        if cluster.name == name:
            return cluster, []
    if not offered:
        return None, ["This template creates no Kubernetes namespace: leave the cluster out."]
    return None, ["Choose one of the template's clusters: " + ", ".join(c.name for c in offered) + "."]


def namespace_name(request: EnvironmentRequest, cluster) -> str:
    """The environment's namespace: the prefixes and its name, a DNS label of at most 63 characters.

    A name that has to be cut gets a short hash of the whole name, so two environments whose
    names differ only past the limit never share a namespace.
    """
    prefix = (cluster.namespace_prefix or "") + ((request.template_version.kubernetes or {}).get("namespacePrefix", ""))
    full = f"{prefix}{request.name}".rstrip("-")
    if len(full) <= NAMESPACE_MAX:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:NAMESPACE_HASH]
    return f"{full[: NAMESPACE_MAX - NAMESPACE_HASH - 1].rstrip('-')}-{digest}"


def substitution_values(request: EnvironmentRequest, namespace: str) -> dict:
    """Values a manifest's ${placeholders} may use: parameters, built-ins and non-sensitive outputs."""
    from provisioning import library

    secrets = library.secret_names(request.template_version.parameters_schema)
    values = {name: value for name, value in (request.parameters or {}).items() if name not in secrets}
    values.update(
        {
            "environment_name": request.name,
            "request_id": request.pk,
            "namespace": namespace,
            "owner_team": request.team.name if request.team_id else "",
        }
    )
    for name, output in (request.outputs or {}).items():
        if isinstance(output, dict) and not output.get("sensitive"):
            values[f"outputs.{name}"] = output.get("value")
            if isinstance(output.get("value"), dict):  # a map output: ${outputs.quota.cpu}
                for key, item in output["value"].items():
                    values[f"outputs.{name}.{key}"] = item
    return values


def environment_objects(request: EnvironmentRequest, cluster, *, with_expiry: bool = True):
    """The namespace and objects Bridge applies for the environment (raises SubstitutionError)."""
    from provisioning import kubernetes as kube

    section = request.template_version.kubernetes or {}
    namespace = namespace_name(request, cluster)
    values = substitution_values(request, namespace)
    labels = {
        kube.OWNER_LABEL: str(request.pk),
        "bridge.dev/template": request.template.name,
        "bridge.dev/team": (request.team.name if request.team_id else "none")[:63],
    }
    if with_expiry and request.expires_at:
        labels["bridge.dev/expires"] = f"{request.expires_at:%Y-%m-%dT%H%MZ}"
    return kube.EnvironmentObjects(
        namespace=namespace,
        labels=labels,
        quota={
            str(k): v if isinstance(v, kube.UnknownValue) else str(v)
            for k, v in kube.substitute(section.get("quota") or {}, values).items()
        },
        limits=kube.substitute(section.get("limits") or [], values),
        team_group=request.team.name if request.team_id else "",
        team_role=section.get("role", ""),
        manifests=kube.substitute(section.get("manifests") or [], values),
    )


def cluster_test(*, user, cluster_id: int) -> tuple[bool, str]:
    """Platform Admins: reach the cluster; (True, server version) or (False, the exact error)."""
    from provisioning import kubernetes as kube
    from provisioning.models import Cluster

    if not permissions.is_platform_admin(user):
        raise PermissionDenied("Only Platform Admins test cluster connections.")
    cluster = Cluster.objects.get(pk=cluster_id)
    try:
        ok, result = True, f"Connected: Kubernetes {kube.server_version(cluster.connection())}"
    except kube.ClusterError as exc:
        ok, result = False, f"Failed: {exc}"
    Cluster.objects.filter(pk=cluster_id).update(last_checked_at=timezone.now(), last_check_result=result[:2000])
    audit_record(actor=user, action="provisioning.cluster.test", obj=cluster, changes={"result": result[:500]})
    return ok, result


class KubernetesInvalid(ServiceError):
    """The environment's Kubernetes objects would be refused by the API server; the message says which and why."""


def _objects_with_plan_outputs(request: EnvironmentRequest, cluster, plan_outputs: list[dict]):
    """The environment's objects as the plan sees them: outputs not known before apply stay unchecked."""
    from provisioning import kubernetes as kube

    outputs = {}
    for output in plan_outputs or []:
        if output.get("sensitive"):
            continue
        value = output.get("value")
        if value == "(known after apply)":
            value = kube.UnknownValue("(known after apply)")
        outputs[output["name"]] = {"sensitive": False, "value": value}
    request.outputs = outputs  # in memory only: fills ${outputs.<name>} for this preview
    try:
        return environment_objects(request, cluster, with_expiry=False)
    except kube.SubstitutionError as exc:
        raise KubernetesInvalid(f"the template's Kubernetes objects cannot be filled in: {exc}") from exc


def kubernetes_plan(request: EnvironmentRequest, plan_outputs: list[dict]) -> dict:
    """What the apply will do on the cluster, for the plan summary approvers read.

    Every object is checked against the Kubernetes schemas and the API server's name rules,
    then compared with the cluster (create, update, delete, no-op) and, where the cluster
    allows it, validated by the API server itself (server-side dry-run). Raises
    ``KubernetesInvalid`` when an object would be refused, so nothing is approved that
    would fail after Terraform has applied. An unreachable cluster is a note, not a failure.
    """
    from provisioning import kubernetes as kube

    try:
        cluster = cluster_of(request)
    except KubernetesSkipped as exc:
        return {"skipped": str(exc)}
    spec = _objects_with_plan_outputs(request, cluster, plan_outputs)
    problems = kube.environment_problems(spec)
    if problems:
        raise KubernetesInvalid("; ".join(problems[:10]))
    note = ""
    try:
        plan = kube.plan_environment(
            cluster.connection(),
            spec,
            dry_run=cluster.server_dry_run,
            dry_run_namespace=settings.PROVISIONING_DRY_RUN_NAMESPACE,
        )
    except kube.ClusterError as exc:
        changes = [kube.ObjectChange("Namespace", spec.namespace, "create")] + [
            kube.ObjectChange(body["kind"], body["metadata"]["name"], "create") for body in kube.desired_objects(spec)
        ]
        note = (
            f"Cluster {cluster.name} could not be reached ({exc}): the objects were checked but not compared with it."
        )
    else:
        if plan.problems:
            raise KubernetesInvalid("; ".join(plan.problems[:10]))
        changes = plan.changes
        note = plan.dry_run or "Server-side dry-run is off for this cluster."
        later = kube.environment_problems(spec, version=kube.schema_version(plan.server_version))
        if later:
            raise KubernetesInvalid("; ".join(later[:10]))
    counts = {action: sum(1 for c in changes if c.action == action) for action in ("create", "update", "delete")}
    return {
        "cluster": cluster.name,
        "namespace": spec.namespace,
        "role": spec.team_role,
        "team": spec.team_group,
        "objects": [c.as_dict() for c in changes],
        **counts,
        "note": note,
    }
