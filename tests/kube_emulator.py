"""A small, stateful Kubernetes API emulator for the tests.

It speaks the real API paths and JSON, so the official ``kubernetes`` client
talks to it over HTTP exactly as it would to a cluster. It keeps objects in
memory and implements what Bridge uses: namespaces (cluster-scoped, with the
Terminating phase on delete and cascading removal of their objects), any
namespaced resource under ``/api/v1`` and ``/apis/<group>/<version>``, create
(409 when it exists), get, list (with equality label selectors), replace,
merge and strategic-merge patch (as JSON merge patch), delete, server-side
dry-run (``?dryRun=All``: validated, never stored; switch it off with
``supports_dry_run=False`` to act like a server that ignores it), the API
server's name rules (422 Invalid), and Status errors with the real reasons. No controllers run: tests set the status of
pods and deployments themselves, as a cluster would report it.

kmock 0.8's KubernetesEmulator answers 500 when creating a namespace and 404
when patching one, which is why Bridge carries its own.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import yaml

CLUSTER_SCOPED = {("", "namespaces"), ("", "nodes"), ("rbac.authorization.k8s.io", "clusterroles")}

KINDS = {
    "namespaces": "Namespace",
    "nodes": "Node",
    "pods": "Pod",
    "events": "Event",
    "services": "Service",
    "configmaps": "ConfigMap",
    "secrets": "Secret",
    "resourcequotas": "ResourceQuota",
    "limitranges": "LimitRange",
    "serviceaccounts": "ServiceAccount",
    "persistentvolumeclaims": "PersistentVolumeClaim",
    "deployments": "Deployment",
    "statefulsets": "StatefulSet",
    "replicasets": "ReplicaSet",
    "rolebindings": "RoleBinding",
    "roles": "Role",
    "clusterroles": "ClusterRole",
    "ingresses": "Ingress",
    "networkpolicies": "NetworkPolicy",
    "jobs": "Job",
    "cronjobs": "CronJob",
}

_CORE = re.compile(r"^/api/v1/(?:namespaces/(?P<ns>[^/]+)/)?(?P<plural>[a-z]+)(?:/(?P<name>[^/]+))?(?P<sub>/status)?$")
_GROUP = re.compile(
    r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/(?:namespaces/(?P<ns>[^/]+)/)?(?P<plural>[a-z]+)"
    r"(?:/(?P<name>[^/]+))?(?P<sub>/status)?$"
)
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_NS_ITSELF = re.compile(r"^/api/v1/namespaces/(?P<name>[^/]+)(?P<sub>/status|/finalize)?$")


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class KubeEmulator:
    """Start with ``start()``; ``kubeconfig(path)`` writes a kubeconfig pointing at it."""

    version = {
        "major": "1",
        "minor": "31",
        "gitVersion": "v1.31.0-bridge-emulator",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-11-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }

    def __init__(self, namespace_termination_reads: int = 1, supports_dry_run: bool = True):
        self.supports_dry_run = supports_dry_run
        # kind -> message: an admission webhook that denies creating or changing such objects.
        self.denied: dict[str, str] = {}
        # (group, plural, namespace or "", name) -> object
        self.objects: dict[tuple[str, str, str, str], dict] = {}
        self.lock = threading.RLock()
        self.resource_version = 0
        self.namespace_termination_reads = namespace_termination_reads
        self._terminating: dict[str, int] = {}
        self.requests: list[tuple[str, str]] = []
        self.server: ThreadingHTTPServer | None = None
        for name in ("default", "kube-system"):  # as every cluster has them
            self.seed("namespaces", {"metadata": {"name": name}})

    # --- lifecycle -----------------------------------------------------------
    def start(self) -> KubeEmulator:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # keep-alive: the body must not wait for the delayed ACK (40 ms)

            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                emulator._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self) -> str:
        assert self.server is not None, "start() the emulator first"
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def kubeconfig(self, path: Path, context: str = "emulator") -> Path:
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": context, "cluster": {"server": self.url}}],
                    "users": [{"name": context, "user": {"token": "emulator-token"}}],
                    "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
                    "current-context": context,
                }
            )
        )
        return path

    # --- direct access for tests ----------------------------------------------
    def get(self, plural: str, name: str, namespace: str = "", group: str = "") -> dict | None:
        with self.lock:
            obj = self.objects.get((group, plural, namespace, name))
            return copy.deepcopy(obj) if obj else None

    def list(self, plural: str, namespace: str = "", group: str = "") -> list[dict]:
        with self.lock:
            return [
                copy.deepcopy(o)
                for (g, p, ns, _), o in sorted(self.objects.items())
                if g == group and p == plural and (not namespace or ns == namespace)
            ]

    def seed(self, plural: str, obj: dict, group: str = "", api_version: str = "v1") -> dict:
        """Store an object as the cluster would report it (status included)."""
        meta = obj.setdefault("metadata", {})
        namespace = "" if (group, plural) in CLUSTER_SCOPED else meta.get("namespace", "default")
        with self.lock:
            stored = self._stamp(obj, plural, api_version, namespace)
            self.objects[(group, plural, namespace, meta["name"])] = stored
            return copy.deepcopy(stored)

    # --- HTTP ------------------------------------------------------------------
    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parsed = urlparse(handler.path)
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        self.requests.append((handler.command, parsed.path + (f"?{parsed.query}" if parsed.query else "")))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._reply(handler, 400, self._status(400, "BadRequest", "request body is not JSON"))
            return
        try:
            code, payload = self._dispatch(
                handler.command, parsed.path, query, body, handler.headers.get("Content-Type", "")
            )
        except ApiError as exc:
            code, payload = exc.code, self._status(exc.code, exc.reason, exc.message)
        self._reply(handler, code, payload)

    @staticmethod
    def _reply(handler, code: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(code)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    @staticmethod
    def _status(code: int, reason: str, message: str) -> dict:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }

    def _route(self, path: str):
        match = _CORE.match(path)
        if match:
            d = match.groupdict()
            if d["plural"] == "namespaces" and d["ns"] is None:
                return "", "v1", "namespaces", "", d["name"]
            if d["ns"] is not None and d["plural"] in ("status", "finalize"):
                return None
            return "", "v1", d["plural"], d["ns"] or "", d["name"]
        match = _NS_ITSELF.match(path)
        if match:
            return "", "v1", "namespaces", "", match["name"]
        match = _GROUP.match(path)
        if match:
            d = match.groupdict()
            return d["group"], d["version"], d["plural"], d["ns"] or "", d["name"]
        return None

    def _dispatch(self, method: str, path: str, query: dict, body, content_type: str):
        path = path.rstrip("/") or "/"
        if path == "/version":
            return 200, self.version
        route = self._route(path)
        if route is None:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")
        group, version, plural, namespace, name = route
        api_version = f"{group}/{version}" if group else version
        cluster_scoped = (group, plural) in CLUSTER_SCOPED
        kind = KINDS.get(plural, plural.rstrip("s").title())
        with self.lock:
            self._advance_terminations()
            if not cluster_scoped and namespace and method in ("POST", "PUT", "PATCH"):
                ns = self.objects.get(("", "namespaces", "", namespace))
                if ns is None:
                    raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found')
                if ns["status"].get("phase") == "Terminating" and method == "POST":
                    raise ApiError(
                        403,
                        "Forbidden",
                        f"unable to create new content in namespace {namespace} because it is being terminated",
                    )
            key = (group, plural, namespace, name or "")
            if method == "GET" and name:
                obj = self.objects.get(key)
                if obj is None:
                    raise ApiError(404, "NotFound", f'{plural} "{name}" not found')
                return 200, obj
            if method == "GET":
                items = [
                    o
                    for (g, p, ns, _), o in sorted(self.objects.items())
                    if g == group
                    and p == plural
                    and (cluster_scoped or not namespace or ns == namespace)
                    and self._matches(o, query.get("labelSelector", ""), query.get("fieldSelector", ""))
                ]
                return 200, {
                    "kind": f"{kind}List",
                    "apiVersion": api_version,
                    "metadata": {"resourceVersion": str(self.resource_version)},
                    "items": items,
                }
            dry_run = self.supports_dry_run and query.get("dryRun") == "All"
            if method == "POST":
                if not isinstance(body, dict) or not body.get("metadata", {}).get("name"):
                    raise ApiError(422, "Invalid", f"{kind} is invalid: metadata.name: Required value")
                obj_name = body["metadata"]["name"]
                self._check_name(kind, obj_name)
                self._admit(kind, obj_name)
                key = (group, plural, namespace, obj_name)
                if key in self.objects:
                    raise ApiError(409, "AlreadyExists", f'{plural} "{obj_name}" already exists')
                obj = self._stamp(body, plural, api_version, namespace, kind)
                if not dry_run:
                    self.objects[key] = obj
                else:
                    self.resource_version -= 1
                return 201, obj
            if name is None:
                raise ApiError(405, "MethodNotAllowed", f"{method} needs an object name")
            current = self.objects.get(key)
            if current is None:
                raise ApiError(404, "NotFound", f'{plural} "{name}" not found')
            if method == "PUT":
                obj = self._stamp(body, plural, api_version, namespace, kind, previous=current)
                self.objects[key] = obj
                return 200, obj
            if method == "PATCH":
                if "json-patch+json" in content_type and "merge" not in content_type:
                    raise ApiError(415, "UnsupportedMediaType", "the emulator supports merge patches only")
                self._admit(kind, name)
                merged = merge_patch(current, body or {})
                obj = self._stamp(merged, plural, api_version, namespace, kind, previous=current)
                if not dry_run:
                    self.objects[key] = obj
                return 200, obj
            if method == "DELETE":
                if plural == "namespaces" and not group:
                    current["status"]["phase"] = "Terminating"
                    current["metadata"].setdefault("deletionTimestamp", _now())
                    self._terminating.setdefault(name, self.namespace_termination_reads)
                    return 200, current
                del self.objects[key]
                return 200, {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {"name": name, "kind": plural},
                }
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported")

    def _admit(self, kind: str, name: str) -> None:
        if kind in self.denied:
            message = f'admission webhook "policy.example.internal" denied the request: {self.denied[kind]}'
            raise ApiError(400, "BadRequest", message)

    @staticmethod
    def _check_name(kind: str, name: str) -> None:
        """The API server's name rules: most kinds take DNS subdomains, Services and Namespaces labels."""
        if kind in ("Role", "RoleBinding", "ClusterRole"):
            valid = name not in (".", "..") and "/" not in name and "%" not in name
            rule = "may not be '.' or '..' and may not contain '/' or '%'"
        elif kind == "Service":
            valid = len(name) <= 63 and bool(_DNS1035_LABEL.match(name))
            rule = "a DNS-1035 label must consist of lower case alphanumeric characters or '-'"
        elif kind == "Namespace":
            valid = len(name) <= 63 and bool(_DNS1123_LABEL.match(name))
            rule = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'"
        else:
            valid = len(name) <= 253 and bool(_DNS1123_SUBDOMAIN.match(name))
            rule = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"
        if not valid:
            raise ApiError(
                422, "Invalid", f'{kind} "{name}" is invalid: metadata.name: Invalid value: "{name}": {rule}'
            )

    def _advance_terminations(self) -> None:
        """A terminating namespace disappears, with its objects, after a few requests."""
        for name in list(self._terminating):
            self._terminating[name] -= 1
            if self._terminating[name] < 0:
                del self._terminating[name]
                for key in [k for k in self.objects if k[2] == name or k == ("", "namespaces", "", name)]:
                    del self.objects[key]

    def _stamp(
        self,
        body: dict,
        plural: str,
        api_version: str,
        namespace: str,
        kind: str | None = None,
        previous: dict | None = None,
    ) -> dict:
        obj = copy.deepcopy(body)
        self.resource_version += 1
        obj["apiVersion"] = obj.get("apiVersion") or api_version
        obj["kind"] = obj.get("kind") or kind or KINDS.get(plural, plural)
        meta = obj.setdefault("metadata", {})
        if namespace:
            meta["namespace"] = namespace
        meta["uid"] = (previous or {}).get("metadata", {}).get("uid") or meta.get("uid") or str(uuid.uuid4())
        meta["creationTimestamp"] = (
            (previous or {}).get("metadata", {}).get("creationTimestamp") or meta.get("creationTimestamp") or _now()
        )
        meta["resourceVersion"] = str(self.resource_version)
        if plural == "namespaces":
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            status = obj.setdefault("status", {})
            status.setdefault("phase", "Active")
        return obj

    @staticmethod
    def _matches(obj: dict, label_selector: str, field_selector: str) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        for term in filter(None, (t.strip() for t in label_selector.split(","))):
            if "!=" in term:
                key, value = term.split("!=", 1)
                if labels.get(key) == value:
                    return False
            elif "=" in term:
                key, value = term.replace("==", "=").split("=", 1)
                if labels.get(key) != value:
                    return False
            elif labels.get(term) is None:
                return False
        for term in filter(None, (t.strip() for t in field_selector.split(","))):
            key, _, value = term.partition("=")
            current = obj
            for part in key.split("."):
                current = current.get(part) if isinstance(current, dict) else None
            if str(current) != value:
                return False
        return True
