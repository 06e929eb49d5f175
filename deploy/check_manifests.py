"""Bridge's deployment rules, checked on rendered Kubernetes manifests and the compose file.

The Kubernetes JSON schemas (kubernetes-validate) say a manifest is well formed; these
rules say it runs Bridge the way docs/operations.md requires:

  K001  web, worker and beat are separate Deployments; a migration Job exists and is a
        pre-install/pre-upgrade Helm hook
  K002  beat has exactly one replica, the Recreate strategy and no autoscaler
  K003  web has a liveness probe on /healthz and a readiness probe on /readyz
  K004  every container has CPU and memory requests and limits
  K005  every pod runs as non-root, without privilege escalation, with a read-only root filesystem
  K006  configuration comes from a ConfigMap and credentials from a Secret (envFrom); no
        container carries SECRET_KEY, DATABASE_URL or CELERY_BROKER_URL as a literal value
  K007  a HorizontalPodAutoscaler scales the worker Deployment (unless --no-worker-hpa)
  K008  the worker consumes the default and provisioning queues
  K009  PORTAL_ENV is production in the ConfigMap

  C001  compose has web, worker, beat, migrate, PostgreSQL 15 and Redis 7 services
  C002  each long-running service has a healthcheck (beat excepted), and the database and
        broker are waited for as healthy
  C003  web, worker, beat and migrate run with PORTAL_ENV=production, a SECRET_KEY taken from
        the environment file, DATABASE_URL, CELERY_BROKER_URL and ALLOWED_HOSTS
  C004  beat is a single container (no replicas/scale above 1); migrate is one-shot
  C000  (with --schema) the file is valid against the Compose Specification's JSON schema

Usage:
  python deploy/check_manifests.py k8s RENDERED.yaml [--no-worker-hpa]
  python deploy/check_manifests.py compose deploy/compose.yaml [--schema compose-spec.json]
Exit 1 and one line per problem when a rule is broken. Needs PyYAML (and jsonschema for --schema).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

CREDENTIALS = {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL"}
HOOK = "helm.sh/hook"


def load_documents(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)]


def _component(doc: dict) -> str | None:
    return (doc.get("metadata", {}).get("labels") or {}).get("app.kubernetes.io/component")


def _pod_spec(doc: dict) -> dict | None:
    if doc.get("kind") in {"Deployment", "Job", "StatefulSet", "DaemonSet"}:
        return doc["spec"]["template"]["spec"]
    return None


def _probe_path(probe: dict | None) -> str | None:
    return ((probe or {}).get("httpGet") or {}).get("path")


def check_kubernetes(documents: list[dict], *, worker_hpa: bool = True) -> list[str]:
    problems: list[str] = []
    deployments = {_component(d): d for d in documents if d.get("kind") == "Deployment"}
    for component in ("web", "worker", "beat"):
        if component not in deployments:
            problems.append(f"K001 no {component} Deployment (label app.kubernetes.io/component={component})")
    jobs = [d for d in documents if d.get("kind") == "Job" and _component(d) == "migrate"]
    if not jobs:
        problems.append("K001 no migration Job (component=migrate)")
    for job in jobs:
        hooks = set((job["metadata"].get("annotations") or {}).get(HOOK, "").split(","))
        if not {"pre-install", "pre-upgrade"} <= hooks:
            problems.append(f"K001 the migration Job is not a pre-install,pre-upgrade hook (hooks: {sorted(hooks)})")
        command = " ".join(job["spec"]["template"]["spec"]["containers"][0].get("command") or [])
        if "migrate" not in command:
            problems.append(f"K001 the migration Job does not run migrate: {command!r}")

    beat = deployments.get("beat")
    hpas = [d for d in documents if d.get("kind") == "HorizontalPodAutoscaler"]
    hpa_targets = {h["spec"]["scaleTargetRef"]["name"] for h in hpas}
    if beat:
        if beat["spec"].get("replicas") != 1:
            problems.append(f"K002 beat has replicas={beat['spec'].get('replicas')!r}; it must be exactly 1")
        if (beat["spec"].get("strategy") or {}).get("type") != "Recreate":
            problems.append("K002 beat must use the Recreate strategy (a rolling update runs two beats)")
        if beat["metadata"]["name"] in hpa_targets:
            problems.append("K002 an autoscaler targets beat")

    web = deployments.get("web")
    if web:
        container = web["spec"]["template"]["spec"]["containers"][0]
        if _probe_path(container.get("livenessProbe")) != "/healthz":
            problems.append("K003 web's liveness probe is not an HTTP GET on /healthz")
        if _probe_path(container.get("readinessProbe")) != "/readyz":
            problems.append("K003 web's readiness probe is not an HTTP GET on /readyz")

    config_maps = {d["metadata"]["name"]: d for d in documents if d.get("kind") == "ConfigMap"}
    for doc in documents:
        pod = _pod_spec(doc)
        if pod is None:
            continue
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        pod_security = pod.get("securityContext") or {}
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            name = f"{where} container {container['name']}"
            resources = container.get("resources") or {}
            for kind in ("requests", "limits"):
                missing = {"cpu", "memory"} - set(resources.get(kind) or {})
                if missing:
                    problems.append(f"K004 {name} has no {kind} for {', '.join(sorted(missing))}")
            security = container.get("securityContext") or {}
            run_as_non_root = security.get("runAsNonRoot", pod_security.get("runAsNonRoot"))
            run_as_user = security.get("runAsUser", pod_security.get("runAsUser"))
            if run_as_non_root is not True or run_as_user in (None, 0):
                problems.append(f"K005 {name} may run as root (runAsNonRoot/runAsUser)")
            if security.get("allowPrivilegeEscalation") is not False:
                problems.append(f"K005 {name} allows privilege escalation")
            if security.get("readOnlyRootFilesystem") is not True:
                problems.append(f"K005 {name} has a writable root filesystem")
            sources = container.get("envFrom") or []
            if not any("configMapRef" in s for s in sources) or not any("secretRef" in s for s in sources):
                problems.append(f"K006 {name} does not take its environment from a ConfigMap and a Secret")
            for variable in container.get("env") or []:
                if variable.get("name") in CREDENTIALS and "value" in variable:
                    problems.append(f"K006 {name} sets {variable['name']} as a literal value")
            if doc["kind"] == "Deployment" and _component(doc) == "worker":
                command = container.get("command") or []
                queues = command[command.index("-Q") + 1] if "-Q" in command else ""
                if set(queues.split(",")) != {"default", "provisioning"}:
                    problems.append(f"K008 {name} consumes {queues!r}, not default,provisioning")

    for name, config_map in config_maps.items():
        data = config_map.get("data") or {}
        if "PORTAL_ENV" in data and data["PORTAL_ENV"] != "production":
            problems.append(f"K009 ConfigMap/{name} sets PORTAL_ENV={data['PORTAL_ENV']!r}")
        leaked = CREDENTIALS & set(data)
        if leaked:
            problems.append(f"K006 ConfigMap/{name} holds credentials: {', '.join(sorted(leaked))}")
    if not any((c.get("data") or {}).get("PORTAL_ENV") == "production" for c in config_maps.values()):
        problems.append("K009 no ConfigMap sets PORTAL_ENV=production")

    if worker_hpa:
        worker = deployments.get("worker")
        if worker is None or worker["metadata"]["name"] not in hpa_targets:
            problems.append("K007 no HorizontalPodAutoscaler targets the worker Deployment")
    return problems


def check_compose_schema(compose: dict, schema: dict) -> list[str]:
    """Problems against the Compose Specification schema (JSON Schema draft 2019-09)."""
    import jsonschema

    validator = jsonschema.Draft201909Validator(schema)
    return [
        f"C000 {'/'.join(str(part) for part in error.absolute_path) or '(top)'}: {error.message}"
        for error in sorted(validator.iter_errors(compose), key=lambda error: list(map(str, error.absolute_path)))
    ]


def check_compose(compose: dict) -> list[str]:
    problems: list[str] = []
    services = compose.get("services") or {}
    for name in ("web", "worker", "beat", "migrate", "db", "redis"):
        if name not in services:
            problems.append(f"C001 no {name} service")
    db_image = (services.get("db") or {}).get("image", "")
    redis_image = (services.get("redis") or {}).get("image", "")
    if not db_image.startswith("postgres:15"):
        problems.append(f"C001 the db service is not PostgreSQL 15: {db_image!r}")
    if not redis_image.startswith("redis:7"):
        problems.append(f"C001 the redis service is not Redis 7: {redis_image!r}")

    for name in ("web", "worker", "db", "redis"):
        check = (services.get(name) or {}).get("healthcheck") or {}
        if not check.get("test") or check.get("disable"):
            problems.append(f"C002 {name} has no healthcheck")
    for name in ("web", "worker", "beat", "migrate"):
        service = services.get(name) or {}
        depends = service.get("depends_on") or {}
        if (depends.get("db") or {}).get("condition") != "service_healthy":
            problems.append(f"C002 {name} does not wait for a healthy db")
        if name != "migrate":
            if (depends.get("redis") or {}).get("condition") != "service_healthy":
                problems.append(f"C002 {name} does not wait for a healthy redis")
            if (depends.get("migrate") or {}).get("condition") != "service_completed_successfully":
                problems.append(f"C002 {name} starts before the migrations finish")
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        if environment.get("PORTAL_ENV") != "production":
            problems.append(f"C003 {name} does not run with PORTAL_ENV=production")
        secret_key = str(environment.get("SECRET_KEY", ""))
        if not secret_key.startswith("${SECRET_KEY"):
            problems.append(f"C003 {name} does not take SECRET_KEY from the environment file")
        for variable in ("DATABASE_URL", "CELERY_BROKER_URL", "ALLOWED_HOSTS"):
            if not environment.get(variable):
                problems.append(f"C003 {name} has no {variable}")
    beat = services.get("beat") or {}
    replicas = (beat.get("deploy") or {}).get("replicas", 1)
    if replicas != 1 or beat.get("scale", 1) != 1:
        problems.append("C004 beat must run as exactly one container")
    command = " ".join(str(part) for part in beat.get("command") or [])
    if "beat" not in command:
        problems.append(f"C004 the beat service does not run celery beat: {command!r}")
    migrate = services.get("migrate") or {}
    if migrate.get("restart") not in ("no", None):
        problems.append('C004 migrate must be one-shot (restart: "no")')
    return problems


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in {"k8s", "compose"}:
        print(__doc__)
        return 2
    kind, path = argv[0], Path(argv[1])
    text = path.read_text(encoding="utf-8")
    if kind == "k8s":
        problems = check_kubernetes(load_documents(text), worker_hpa="--no-worker-hpa" not in argv)
    else:
        compose = yaml.safe_load(text)
        problems = check_compose(compose)
        if "--schema" in argv:
            schema_path = Path(argv[argv.index("--schema") + 1])
            problems = check_compose_schema(compose, json.loads(schema_path.read_text(encoding="utf-8"))) + problems
    for problem in problems:
        print(f"{path}: {problem}")
    if problems:
        return 1
    print(f"{path}: deployment rules OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
