"""The Kubernetes side of an environment: cluster, namespace, objects, connection test."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.utils import timezone

from portal.services import PermissionDenied, audit_record
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


def cluster_for(version: TemplateVersion):
    """The first active registered cluster the template names, or KubernetesSkipped with the reason."""
    from provisioning.models import Cluster

    section = version.kubernetes or {}
    if not section:
        raise KubernetesSkipped("the template has no kubernetes section")
    names = section.get("clusters") or []
    if not names:
        raise KubernetesSkipped("the template names no cluster (kubernetes.clusters)")
    clusters = {c.name: c for c in Cluster.objects.filter(name__in=names, is_active=True)}
    for name in names:
        if name in clusters:
            return clusters[name]
    raise KubernetesSkipped(
        f"no cluster configured: none of the template's clusters ({', '.join(names)}) is registered and active"
    )


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
    values = dict(request.parameters or {})
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
        quota={str(k): str(v) for k, v in (section.get("quota") or {}).items()},
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
