"""Adapter to Kubernetes through the official ``kubernetes`` client.

Services call these functions; nothing here knows about requests, runs or
views. Every action reports a line through ``log`` so it lands in the run's
log. Errors are raised as :class:`ClusterError` with a message safe to show.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as Urllib3HTTPError

Log = Callable[[str], None]

REQUEST_TIMEOUT = (5, 30)  # connect, read (seconds)
MANAGED_BY = "bridge"
# The id of the environment that owns a namespace; Bridge touches no namespace without its own id here.
OWNER_LABEL = "bridge.dev/environment"
QUOTA_NAME = "bridge-quota"
LIMIT_RANGE_NAME = "bridge-limits"
ROLE_BINDING_NAME = "bridge-team-access"

WAITING_HINTS = {
    "ImagePullBackOff": "The image cannot be pulled: check the image name and tag, and the registry credentials.",
    "ErrImagePull": "The image cannot be pulled: check the image name and tag, and the registry credentials.",
    "CrashLoopBackOff": "The container starts and crashes again and again: read its logs for the error.",
    "CreateContainerConfigError": "A ConfigMap or Secret the container refers to is missing, or a key in it.",
    "OOMKilled": "The container ran out of memory: raise its memory limit or find the leak.",
    "ContainerCreating": "The container is being created; give it a moment.",
}


class ClusterError(Exception):
    """Talking to the cluster failed; the message says what the cluster answered."""


@dataclass(frozen=True)
class ClusterConnection:
    """How to reach one cluster: a kubeconfig context, or the pod's in-cluster config."""

    name: str
    context: str = ""
    in_cluster: bool = False
    kubeconfig: str = ""


@dataclass
class EnvironmentObjects:
    """What Bridge applies for one environment."""

    namespace: str
    labels: dict[str, str]
    quota: dict[str, str] = field(default_factory=dict)
    limits: list[dict[str, Any]] = field(default_factory=list)
    team_group: str = ""
    team_role: str = ""
    manifests: list[dict[str, Any]] = field(default_factory=list)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ApiException):
        reason = exc.reason or ""
        message = ""
        if exc.body:
            try:
                message = str(json.loads(exc.body).get("message") or "")
            except (ValueError, AttributeError, TypeError):
                match = re.search(r'"message":\s*"([^"]*)"', str(exc.body))
                message = match.group(1) if match else ""
        return f"{exc.status} {reason}: {message}".strip(": ") if message else f"{exc.status} {reason}"
    return f"{exc.__class__.__name__}: {exc}"


def api_client(connection: ClusterConnection) -> client.ApiClient:
    try:
        if connection.in_cluster:
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
            return client.ApiClient(configuration)
        return config.new_client_from_config(
            config_file=connection.kubeconfig or None,
            context=connection.context or None,
            persist_config=False,
        )
    except (config.ConfigException, OSError, TypeError, ValueError) as exc:
        raise ClusterError(f"cannot configure cluster {connection.name}: {exc}") from exc


def _call(what: str, fn, *args, **kwargs):
    try:
        return fn(*args, _request_timeout=REQUEST_TIMEOUT, **kwargs)
    except ApiException as exc:
        raise ClusterError(f"{what} failed: {_describe(exc)}") from exc
    except (Urllib3HTTPError, OSError) as exc:
        raise ClusterError(f"{what} failed: cluster unreachable ({exc.__class__.__name__})") from exc


def server_version(connection: ClusterConnection) -> str:
    """The cluster's version, or a ClusterError with the exact error."""
    with api_client(connection) as api:
        info = _call("reading the server version", client.VersionApi(api).get_code)
        return info.git_version


# --- apply ---------------------------------------------------------------------------

# kind -> (API class, create method, read method, patch method, namespaced)
_KINDS: dict[str, tuple[type, str, str, str]] = {
    "ConfigMap": (
        client.CoreV1Api,
        "create_namespaced_config_map",
        "read_namespaced_config_map",
        "patch_namespaced_config_map",
    ),
    "Secret": (client.CoreV1Api, "create_namespaced_secret", "read_namespaced_secret", "patch_namespaced_secret"),
    "Service": (client.CoreV1Api, "create_namespaced_service", "read_namespaced_service", "patch_namespaced_service"),
    "ServiceAccount": (
        client.CoreV1Api,
        "create_namespaced_service_account",
        "read_namespaced_service_account",
        "patch_namespaced_service_account",
    ),
    "ResourceQuota": (
        client.CoreV1Api,
        "create_namespaced_resource_quota",
        "read_namespaced_resource_quota",
        "patch_namespaced_resource_quota",
    ),
    "LimitRange": (
        client.CoreV1Api,
        "create_namespaced_limit_range",
        "read_namespaced_limit_range",
        "patch_namespaced_limit_range",
    ),
    "PersistentVolumeClaim": (
        client.CoreV1Api,
        "create_namespaced_persistent_volume_claim",
        "read_namespaced_persistent_volume_claim",
        "patch_namespaced_persistent_volume_claim",
    ),
    "Deployment": (
        client.AppsV1Api,
        "create_namespaced_deployment",
        "read_namespaced_deployment",
        "patch_namespaced_deployment",
    ),
    "StatefulSet": (
        client.AppsV1Api,
        "create_namespaced_stateful_set",
        "read_namespaced_stateful_set",
        "patch_namespaced_stateful_set",
    ),
    "RoleBinding": (
        client.RbacAuthorizationV1Api,
        "create_namespaced_role_binding",
        "read_namespaced_role_binding",
        "patch_namespaced_role_binding",
    ),
    "Role": (client.RbacAuthorizationV1Api, "create_namespaced_role", "read_namespaced_role", "patch_namespaced_role"),
    "Ingress": (
        client.NetworkingV1Api,
        "create_namespaced_ingress",
        "read_namespaced_ingress",
        "patch_namespaced_ingress",
    ),
    "NetworkPolicy": (
        client.NetworkingV1Api,
        "create_namespaced_network_policy",
        "read_namespaced_network_policy",
        "patch_namespaced_network_policy",
    ),
}
SUPPORTED_MANIFEST_KINDS = tuple(sorted(_KINDS))


def _method(kind: str, verb: str) -> str:
    """``delete_namespaced_config_map`` etc., from the create method's name."""
    return _KINDS[kind][1].replace("create_", f"{verb}_", 1)


def _apply_namespaced(api: client.ApiClient, namespace: str, body: dict, log: Log) -> str:
    """Create the object, or patch it when it exists; returns 'created' or 'updated'."""
    kind = body.get("kind", "")
    name = body.get("metadata", {}).get("name", "")
    if kind not in _KINDS:
        raise ClusterError(
            f"{kind or 'an object without kind'} is not a kind Bridge applies "
            f"(supported: {', '.join(SUPPORTED_MANIFEST_KINDS)})"
        )
    api_class, create, _read, patch = _KINDS[kind]
    instance = api_class(api)
    try:
        getattr(instance, create)(namespace=namespace, body=body, _request_timeout=REQUEST_TIMEOUT)
        outcome = "created"
    except ApiException as exc:
        if exc.status != 409:
            raise ClusterError(f"creating {kind} {namespace}/{name} failed: {_describe(exc)}") from exc
        _call(
            f"updating {kind} {namespace}/{name}", getattr(instance, patch), name=name, namespace=namespace, body=body
        )
        outcome = "updated"
    except (Urllib3HTTPError, OSError) as exc:
        raise ClusterError(f"creating {kind} {namespace}/{name} failed: cluster unreachable") from exc
    log(f"kubernetes: {kind} {namespace}/{name} {outcome}")
    return outcome


def _ensure_namespace(api: client.ApiClient, name: str, labels: dict[str, str], log: Log) -> None:
    """Create the namespace, or update the one this environment already owns; never adopt another's."""
    core = client.CoreV1Api(api)
    body = {"metadata": {"name": name, "labels": labels}}
    try:
        core.create_namespace(body=body, _request_timeout=REQUEST_TIMEOUT)
        log(f"kubernetes: namespace {name} created")
        return
    except ApiException as exc:
        if exc.status != 409:
            raise ClusterError(f"creating namespace {name} failed: {_describe(exc)}") from exc
    except (Urllib3HTTPError, OSError) as exc:
        raise ClusterError(f"creating namespace {name} failed: cluster unreachable") from exc
    existing = _call(f"reading namespace {name}", core.read_namespace, name=name)
    refusal = _ownership_problem(name, existing, labels.get(OWNER_LABEL, ""))
    if refusal:
        raise ClusterError(refusal)
    _call(f"updating namespace {name}", core.patch_namespace, name=name, body={"metadata": {"labels": labels}})
    log(f"kubernetes: namespace {name} updated")


def _ownership_problem(name: str, namespace, owner: str) -> str:
    """Why the existing namespace is not this environment's to touch ("" when it is)."""
    found = ((namespace.metadata and namespace.metadata.labels) or {}).get(OWNER_LABEL, "")
    if found == owner:
        return ""
    if not found:
        return (
            f"namespace {name} already exists and Bridge did not create it (it has no {OWNER_LABEL} label); "
            "Bridge does not take over a namespace it does not own. Delete or rename it, or ask a Platform Admin."
        )
    return (
        f"namespace {name} already exists and belongs to environment #{found} ({OWNER_LABEL}={found}); "
        "Bridge does not take over another environment's namespace."
    )


def desired_objects(spec: EnvironmentObjects) -> list[dict[str, Any]]:
    """Every namespaced object Bridge owns in the environment's namespace, as manifests."""
    managed = {"app.kubernetes.io/managed-by": MANAGED_BY}
    objects: list[dict[str, Any]] = []
    if spec.quota:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": {"name": QUOTA_NAME, "labels": managed},
                "spec": {"hard": dict(spec.quota)},
            }
        )
    if spec.limits:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "LimitRange",
                "metadata": {"name": LIMIT_RANGE_NAME, "labels": managed},
                "spec": {"limits": spec.limits},
            }
        )
    if spec.team_group and spec.team_role:
        objects.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": ROLE_BINDING_NAME, "labels": managed},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": spec.team_role},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": spec.team_group}],
            }
        )
    for manifest in spec.manifests:
        labelled = dict(manifest)
        labelled["metadata"] = dict(manifest.get("metadata", {}))
        labelled["metadata"]["labels"] = {**labelled["metadata"].get("labels", {}), **managed}
        labelled["metadata"].pop("namespace", None)
        objects.append(labelled)
    return objects


def _managed_objects(api: client.ApiClient, namespace: str) -> list[tuple[str, str]]:
    """(kind, name) of every object Bridge applied in the namespace, by its managed-by label."""
    found = []
    for kind in SUPPORTED_MANIFEST_KINDS:
        api_class = _KINDS[kind][0]
        items = _call(
            f"listing {kind} objects in {namespace}",
            getattr(api_class(api), _method(kind, "list")),
            namespace=namespace,
            label_selector=f"app.kubernetes.io/managed-by={MANAGED_BY}",
        ).items
        found.extend((kind, item.metadata.name) for item in items)
    return found


def _prune(api: client.ApiClient, namespace: str, keep: set[tuple[str, str]], log: Log) -> list[str]:
    """Delete the objects Bridge applied earlier that the template no longer has."""
    deleted = []
    for kind, name in _managed_objects(api, namespace):
        if (kind, name) in keep:
            continue
        api_class = _KINDS[kind][0]
        try:
            getattr(api_class(api), _method(kind, "delete"))(
                name=name, namespace=namespace, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            if exc.status != 404:
                raise ClusterError(f"deleting {kind} {namespace}/{name} failed: {_describe(exc)}") from exc
        except (Urllib3HTTPError, OSError) as exc:
            raise ClusterError(f"deleting {kind} {namespace}/{name} failed: cluster unreachable") from exc
        log(f"kubernetes: {kind} {namespace}/{name} deleted (no longer in the template)")
        deleted.append(f"{kind}/{name}")
    return deleted


def apply_environment(connection: ClusterConnection, spec: EnvironmentObjects, log: Log) -> list[str]:
    """Create or update the namespace and everything in it, and delete what Bridge applied
    before that the template no longer has. Idempotent."""
    applied = []
    with api_client(connection) as api:
        _ensure_namespace(api, spec.namespace, {**spec.labels, "app.kubernetes.io/managed-by": MANAGED_BY}, log)
        keep = set()
        for body in desired_objects(spec):
            _apply_namespaced(api, spec.namespace, body, log)
            applied.append(f"{body['kind']}/{body['metadata']['name']}")
            keep.add((body["kind"], body["metadata"]["name"]))
        _prune(api, spec.namespace, keep, log)
    return applied


def label_namespace(connection: ClusterConnection, name: str, labels: dict[str, str], log: Log) -> None:
    """Patch the namespace's labels (the expiry label after an extension)."""
    with api_client(connection) as api:
        core = client.CoreV1Api(api)
        _call(f"labelling namespace {name}", core.patch_namespace, name=name, body={"metadata": {"labels": labels}})
        log(f"kubernetes: namespace {name} labels updated")


# --- status ----------------------------------------------------------------------------


@dataclass
class PodStatus:
    name: str
    phase: str
    restarts: int
    ready: bool
    problem: str = ""
    hint: str = ""


@dataclass
class DeploymentStatus:
    name: str
    desired: int
    ready: int


@dataclass
class NamespaceStatus:
    namespace: str
    phase: str
    deployments: list[DeploymentStatus] = field(default_factory=list)
    pods: list[PodStatus] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    quota: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.phase != "Missing"


def _pod_status(pod) -> PodStatus:
    statuses = list(pod.status.container_statuses or []) if pod.status else []
    restarts = sum(s.restart_count or 0 for s in statuses)
    ready = bool(statuses) and all(s.ready for s in statuses)
    problem = ""
    for s in statuses:
        if s.state and s.state.waiting and s.state.waiting.reason:
            problem = s.state.waiting.reason
            break
        if s.state and s.state.terminated and s.state.terminated.reason == "OOMKilled":
            problem = "OOMKilled"
            break
        if s.last_state and s.last_state.terminated and s.last_state.terminated.reason == "OOMKilled":
            problem = "OOMKilled"
    return PodStatus(
        name=pod.metadata.name,
        phase=(pod.status.phase if pod.status else "") or "Unknown",
        restarts=restarts,
        ready=ready,
        problem=problem,
        hint=WAITING_HINTS.get(problem, ""),
    )


def read_status(connection: ClusterConnection, namespace: str) -> NamespaceStatus:
    with api_client(connection) as api:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        try:
            ns = core.read_namespace(name=namespace, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status == 404:
                return NamespaceStatus(namespace=namespace, phase="Missing")
            raise ClusterError(f"reading namespace {namespace} failed: {_describe(exc)}") from exc
        except (Urllib3HTTPError, OSError) as exc:
            raise ClusterError(f"reading namespace {namespace} failed: cluster unreachable") from exc
        status = NamespaceStatus(namespace=namespace, phase=(ns.status.phase if ns.status else "") or "Unknown")
        for d in _call("listing deployments", apps.list_namespaced_deployment, namespace=namespace).items:
            status.deployments.append(
                DeploymentStatus(
                    name=d.metadata.name,
                    desired=(d.spec.replicas if d.spec and d.spec.replicas is not None else 1),
                    ready=(d.status.ready_replicas or 0) if d.status else 0,
                )
            )
        status.pods = [
            _pod_status(p) for p in _call("listing pods", core.list_namespaced_pod, namespace=namespace).items
        ]
        events = _call(
            "listing events", core.list_namespaced_event, namespace=namespace, field_selector="type=Warning"
        ).items
        for event in events[-20:]:
            subject = event.involved_object.name if event.involved_object else ""
            status.warnings.append(f"{event.reason or 'Warning'} {subject}: {event.message or ''}".strip())
        for quota in _call("listing quotas", core.list_namespaced_resource_quota, namespace=namespace).items:
            hard = (quota.status.hard if quota.status and quota.status.hard else None) or quota.spec.hard or {}
            used = (quota.status.used if quota.status and quota.status.used else None) or {}
            for resource, limit in hard.items():
                status.quota[resource] = {"hard": str(limit), "used": str(used.get(resource, "0"))}
    return status


# --- delete ----------------------------------------------------------------------------


def delete_namespace(
    connection: ClusterConnection, namespace: str, log: Log, *, owner: str = "", timeout: float = 300, poll: float = 2.0
) -> None:
    """Delete the namespace and wait until the cluster no longer has it.

    With ``owner`` (the environment's id), a namespace that another environment owns, or that
    Bridge did not create, is left alone and the log says so.
    """
    with api_client(connection) as api:
        core = client.CoreV1Api(api)
        if owner:
            try:
                existing = core.read_namespace(name=namespace, _request_timeout=REQUEST_TIMEOUT)
            except ApiException as exc:
                if exc.status == 404:
                    log(f"kubernetes: namespace {namespace} already gone")
                    return
                raise ClusterError(f"reading namespace {namespace} failed: {_describe(exc)}") from exc
            except (Urllib3HTTPError, OSError) as exc:
                raise ClusterError(f"reading namespace {namespace} failed: cluster unreachable") from exc
            refusal = _ownership_problem(namespace, existing, owner)
            if refusal:
                log(f"kubernetes: not deleted: {refusal}")
                return
        try:
            core.delete_namespace(name=namespace, _request_timeout=REQUEST_TIMEOUT)
            log(f"kubernetes: namespace {namespace} deletion requested")
        except ApiException as exc:
            if exc.status == 404:
                log(f"kubernetes: namespace {namespace} already gone")
                return
            raise ClusterError(f"deleting namespace {namespace} failed: {_describe(exc)}") from exc
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                core.read_namespace(name=namespace, _request_timeout=REQUEST_TIMEOUT)
            except ApiException as exc:
                if exc.status == 404:
                    log(f"kubernetes: namespace {namespace} deleted")
                    return
                raise ClusterError(f"waiting for namespace {namespace} failed: {_describe(exc)}") from exc
            time.sleep(poll)
        raise ClusterError(f"namespace {namespace} was still terminating after {timeout:.0f}s")


# --- drift -----------------------------------------------------------------------------


def _subset_differences(path: str, desired: Any, actual: Any) -> list[str]:
    """Where ``actual`` does not contain ``desired`` (fields the cluster adds are ignored)."""
    if isinstance(desired, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object"]
        out = []
        for key, value in desired.items():
            out.extend(_subset_differences(f"{path}.{key}", value, actual.get(key)))
        return out
    if isinstance(desired, list):
        if not isinstance(actual, list) or len(actual) != len(desired):
            return [f"{path}: differs"]
        out = []
        for index, (d, a) in enumerate(zip(desired, actual, strict=True)):
            out.extend(_subset_differences(f"{path}[{index}]", d, a))
        return out
    if str(desired) != str(actual):
        return [f"{path}: expected {desired!r}, found {actual!r}"]
    return []


def detect_drift(connection: ClusterConnection, spec: EnvironmentObjects) -> list[str]:
    """Differences between what Bridge applied and what the cluster has, in words."""
    differences = []
    with api_client(connection) as api:
        core = client.CoreV1Api(api)
        try:
            ns = core.read_namespace(name=spec.namespace, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status == 404:
                return [f"namespace {spec.namespace} is missing"]
            raise ClusterError(f"reading namespace {spec.namespace} failed: {_describe(exc)}") from exc
        labels = ns.metadata.labels or {}
        for key, value in spec.labels.items():
            if labels.get(key) != value:
                differences.append(f"namespace label {key}: expected {value!r}, found {labels.get(key)!r}")
        for body in desired_objects(spec):
            kind, name = body["kind"], body["metadata"]["name"]
            api_class, _create, read, _patch = _KINDS[kind]
            try:
                actual = getattr(api_class(api), read)(
                    name=name, namespace=spec.namespace, _request_timeout=REQUEST_TIMEOUT
                )
            except ApiException as exc:
                if exc.status == 404:
                    differences.append(f"{kind}/{name} is missing")
                    continue
                raise ClusterError(f"reading {kind}/{name} failed: {_describe(exc)}") from exc
            actual_dict = api.sanitize_for_serialization(actual)
            for section in ("spec", "data", "roleRef", "subjects"):
                if section in body:
                    differences.extend(
                        f"{kind}/{name} {d}"
                        for d in _subset_differences(section, body[section], actual_dict.get(section))
                    )
    return differences


# --- safe substitution -------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\$\{([a-zA-Z_][a-zA-Z0-9_.]*)\}")
_ANY_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}?")


class SubstitutionError(ValueError):
    pass


def placeholders(value: Any) -> set[str]:
    """The names of every ``${name}`` in a structure's strings (keys included)."""
    if isinstance(value, dict):
        return set().union(*(placeholders(k) | placeholders(v) for k, v in value.items()))
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value))
    return set(_PLACEHOLDER.findall(value)) if isinstance(value, str) else set()


def substitute(value: Any, values: dict[str, Any]) -> Any:
    """Replace ``${name}`` in every string of a manifest. No code runs: only lookups.

    A string that is exactly one placeholder takes the value's type (a number
    stays a number); an unknown name is an error, never left in place.
    """
    if isinstance(value, dict):
        return {substitute(k, values): substitute(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, values) for v in value]
    if not isinstance(value, str):
        return value
    for match in _ANY_PLACEHOLDER.finditer(value):
        if not _PLACEHOLDER.fullmatch(match.group(0)):
            raise SubstitutionError(f"malformed placeholder {match.group(0)[:40]!r}: use ${{name}}")
    whole = _PLACEHOLDER.fullmatch(value)
    if whole:
        key = whole.group(1)
        if key not in values:
            raise SubstitutionError(f"unknown placeholder ${{{key}}}")
        return values[key]

    def replace(match: re.Match) -> str:
        key = match.group(1)
        if key not in values:
            raise SubstitutionError(f"unknown placeholder ${{{key}}}")
        return str(values[key])

    return _PLACEHOLDER.sub(replace, value)


# --- validation: what the API server would refuse, found before anything is applied -----

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_QUANTITY = re.compile(
    r"^[+-]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
# Kinds whose names are DNS-1035 labels (Service) or path segments (RBAC); the rest are DNS-1123 subdomains.
_LABEL_NAMED = {"Service"}
_PATH_SEGMENT_NAMED = {"Role", "RoleBinding"}


class UnknownValue(str):
    """A placeholder's value that is only known after apply (an output): its type is not checked."""


def _name_problem(kind: str, name: Any) -> str | None:
    if not isinstance(name, str) or not name:
        return "metadata.name is required"
    if isinstance(name, UnknownValue):
        return None
    if kind in _PATH_SEGMENT_NAMED:
        if name in (".", "..") or "/" in name or "%" in name:
            return f"metadata.name {name!r} may not be '.', '..' or contain '/' or '%'"
        return None
    if kind in _LABEL_NAMED or kind == "Namespace":
        rule = _DNS1035_LABEL if kind in _LABEL_NAMED else _DNS1123_LABEL
        what = "an RFC 1035 label" if kind in _LABEL_NAMED else "an RFC 1123 label"
        if len(name) > 63 or not rule.match(name):
            return (
                f"metadata.name {name!r} is not {what}: at most 63 lower case letters, digits and '-', "
                "starting and ending with a letter or digit"
            )
        return None
    if len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        return (
            f"metadata.name {name!r} is not an RFC 1123 subdomain: lower case letters, digits, '-' and '.', "
            "starting and ending with a letter or digit (no '_')"
        )
    return None


def _label_problems(labels: Any) -> list[str]:
    if not isinstance(labels, dict):
        return []
    problems = []
    for key, value in labels.items():
        prefix, _, name = str(key).rpartition("/")
        if (
            (prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)))
            or len(name) > 63
            or not (_LABEL_NAME.match(name))
        ):
            problems.append(f"label key {key!r} is not valid")
        if isinstance(value, UnknownValue):
            continue
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            problems.append(
                f"label {key}={value!r} is not a valid label value (at most 63 letters, digits, '-', '_' and '.')"
            )
    return problems


def _quantity_problems(where: str, values: Any) -> list[str]:
    if not isinstance(values, dict):
        return []
    return [
        f"{where}.{resource}: {value!r} is not a quantity (like 500m, 2, 4Gi)"
        for resource, value in values.items()
        if not isinstance(value, UnknownValue) and not (isinstance(value, int | float) or _QUANTITY.match(str(value)))
    ]


def schema_version(server_version: str | None = None) -> str:
    """The Kubernetes version whose schemas check objects: the cluster's, within what the package ships."""
    from kubernetes_validate import utils as kv_utils

    latest = kv_utils.latest_version()
    match = re.match(r"^v?(\d+)\.(\d+)", server_version or "")
    if not match:
        return kv_utils.major_minor(latest)
    wanted = (int(match.group(1)), int(match.group(2)))
    shipped = [tuple(int(p) for p in kv_utils.major_minor(v).split(".")) for v in kv_utils.all_versions()]
    usable = [v for v in shipped if v <= wanted] or shipped[:1]
    major, minor = max(usable)
    return f"{major}.{minor}"


def object_problems(body: dict, *, version: str | None = None) -> list[str]:
    """Why the API server would refuse this object, in words; empty when it is valid.

    Names and labels follow the API server's rules; the rest is checked against the
    object's OpenAPI schema (``kubernetes-validate``, strict: unknown fields are refused).
    """
    import kubernetes_validate
    from kubernetes_validate.utils import InvalidSchemaError, SchemaNotFoundError

    kind = body.get("kind") or "?"
    metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    problems = []
    name_problem = _name_problem(kind, metadata.get("name"))
    if name_problem:
        problems.append(name_problem)
    problems.extend(_label_problems(metadata.get("labels")))
    if kind == "ResourceQuota":
        problems.extend(_quantity_problems("spec.hard", (body.get("spec") or {}).get("hard")))
    if kind == "LimitRange":
        for index, limit in enumerate((body.get("spec") or {}).get("limits") or []):
            for section in ("default", "defaultRequest", "max", "min", "maxLimitRequestRatio"):
                if isinstance(limit, dict):
                    problems.extend(_quantity_problems(f"spec.limits[{index}].{section}", limit.get(section)))
    try:
        kubernetes_validate.validate(body, version or schema_version(), strict=True)
    except kubernetes_validate.ValidationError as exc:
        if not isinstance(exc.instance, UnknownValue):
            where = ".".join(str(part) for part in exc.path) or "(the object)"
            problems.append(f"{where}: {exc.message}")
    except (SchemaNotFoundError, InvalidSchemaError):
        pass
    return problems


def environment_problems(spec: EnvironmentObjects, *, version: str | None = None) -> list[str]:
    """Every object Bridge would apply for the environment that the API server would refuse, with why."""
    problems = [f"Namespace {spec.namespace}: {p}" for p in filter(None, [_name_problem("Namespace", spec.namespace)])]
    problems.extend(f"Namespace {spec.namespace}: {p}" for p in _label_problems(spec.labels))
    version = version or schema_version()
    for body in desired_objects(spec):
        name = (body.get("metadata") or {}).get("name") or "(no name)"
        problems.extend(f"{body.get('kind')} {name}: {p}" for p in object_problems(body, version=version))
    return problems


# --- plan: what applying would create, change and delete -----------------------------------


@dataclass
class ObjectChange:
    kind: str
    name: str
    action: str  # create, update, delete, no-op

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "action": self.action}


@dataclass
class KubernetesPlan:
    changes: list[ObjectChange] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    server_version: str = ""
    dry_run: str = ""  # what the server-side dry-run did, in words


def _dry_run(api: client.ApiClient, namespace: str, body: dict, *, exists: bool) -> str | None:
    """Ask the API server to validate the object without storing it; the refusal, or None."""
    kind, name = body["kind"], body["metadata"]["name"]
    instance = _KINDS[kind][0](api)
    try:
        if exists:
            getattr(instance, _KINDS[kind][3])(
                name=name, namespace=namespace, body=body, dry_run="All", _request_timeout=REQUEST_TIMEOUT
            )
        else:
            getattr(instance, _KINDS[kind][1])(
                namespace=namespace, body=body, dry_run="All", _request_timeout=REQUEST_TIMEOUT
            )
    except ApiException as exc:
        if exc.status in (400, 403, 404, 409, 422) and not (exc.status == 409 and not exists):
            return f"{kind} {name}: the cluster refused it: {_describe(exc)}"
        if exc.status == 409:
            return None  # an object of that name exists where it was tried: its content was still valid
        raise ClusterError(f"dry-run of {kind} {name} failed: {_describe(exc)}") from exc
    except (Urllib3HTTPError, OSError) as exc:
        raise ClusterError(f"dry-run of {kind} {name} failed: cluster unreachable ({exc.__class__.__name__})") from exc
    return None


def _namespace_exists(core: client.CoreV1Api, name: str) -> bool:
    try:
        core.read_namespace(name=name, _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise ClusterError(f"reading namespace {name} failed: {_describe(exc)}") from exc
    except (Urllib3HTTPError, OSError) as exc:
        raise ClusterError(f"reading namespace {name} failed: cluster unreachable") from exc
    return True


def plan_environment(
    connection: ClusterConnection,
    spec: EnvironmentObjects,
    *,
    dry_run: bool = True,
    dry_run_namespace: str = "default",
) -> KubernetesPlan:
    """Compare the environment's objects with the cluster: what applying would create, change or delete.

    With ``dry_run``, the API server validates every object (``dryRun=All``: nothing is stored).
    A namespace that does not exist yet cannot hold a dry-run, so its objects are tried in
    ``dry_run_namespace`` instead.
    """
    plan = KubernetesPlan()
    desired = desired_objects(spec)
    with api_client(connection) as api:
        plan.server_version = _call("reading the server version", client.VersionApi(api).get_code).git_version
        core = client.CoreV1Api(api)
        try:
            namespace = core.read_namespace(name=spec.namespace, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status != 404:
                raise ClusterError(f"reading namespace {spec.namespace} failed: {_describe(exc)}") from exc
            namespace = None
        except (Urllib3HTTPError, OSError) as exc:
            raise ClusterError(f"reading namespace {spec.namespace} failed: cluster unreachable") from exc
        if namespace is None:
            plan.changes.append(ObjectChange("Namespace", spec.namespace, "create"))
            plan.changes.extend(ObjectChange(b["kind"], b["metadata"]["name"], "create") for b in desired)
        else:
            refusal = _ownership_problem(spec.namespace, namespace, spec.labels.get(OWNER_LABEL, ""))
            if refusal:
                plan.problems.append(f"Namespace {spec.namespace}: {refusal}")
            labels = namespace.metadata.labels or {}
            same = all(labels.get(k) == v for k, v in spec.labels.items() if k != "bridge.dev/expires")
            plan.changes.append(ObjectChange("Namespace", spec.namespace, "no-op" if same else "update"))
            for body in desired:
                kind, name = body["kind"], body["metadata"]["name"]
                try:
                    actual = getattr(_KINDS[kind][0](api), _KINDS[kind][2])(
                        name=name, namespace=spec.namespace, _request_timeout=REQUEST_TIMEOUT
                    )
                except ApiException as exc:
                    if exc.status != 404:
                        raise ClusterError(f"reading {kind}/{name} failed: {_describe(exc)}") from exc
                    plan.changes.append(ObjectChange(kind, name, "create"))
                    continue
                actual_dict = api.sanitize_for_serialization(actual)
                differs = any(
                    _subset_differences(section, body[section], actual_dict.get(section))
                    for section in ("spec", "data", "stringData", "roleRef", "subjects")
                    if section in body
                )
                plan.changes.append(ObjectChange(kind, name, "update" if differs else "no-op"))
            keep = {(b["kind"], b["metadata"]["name"]) for b in desired}
            plan.changes.extend(
                ObjectChange(kind, name, "delete")
                for kind, name in _managed_objects(api, spec.namespace)
                if (kind, name) not in keep
            )
        if dry_run and namespace is None and not _namespace_exists(core, dry_run_namespace):
            plan.dry_run = f"server-side dry-run skipped: namespace {dry_run_namespace} does not exist to hold it"
        elif dry_run:
            target = spec.namespace if namespace is not None else dry_run_namespace
            existing = {(c.kind, c.name) for c in plan.changes if c.action in ("update", "no-op")}
            if namespace is None:
                metadata = {"name": spec.namespace, "labels": spec.labels}
                body = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
                try:
                    core.create_namespace(body=body, dry_run="All", _request_timeout=REQUEST_TIMEOUT)
                except ApiException as exc:
                    if exc.status != 409:
                        plan.problems.append(f"Namespace {spec.namespace}: the cluster refused it: {_describe(exc)}")
            for body in desired:
                refusal = _dry_run(api, target, body, exists=(body["kind"], body["metadata"]["name"]) in existing)
                if refusal:
                    plan.problems.append(refusal)
            plan.dry_run = f"server-side dry-run in namespace {target}: " + (
                "every object accepted" if not plan.problems else f"{len(plan.problems)} refused"
            )
    return plan
