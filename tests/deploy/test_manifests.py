"""The deployment files: the Helm chart renders to manifests that pass the Kubernetes
schemas and Bridge's deployment rules; compose and the Dockerfile hold to their rules;
the image's build and health check commands work with the production settings."""

import fnmatch
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import CHART, CI_VALUES, DEPLOY, ROOT, load_deploy_module
from tests.worker import PortalServer

lint_dockerfile = load_deploy_module("lint_dockerfile")
check_manifests = load_deploy_module("check_manifests")

DOCKERFILE = (DEPLOY / "Dockerfile").read_text()
INLINE_VALUES = DEPLOY / "helm" / "ci" / "inline-secret-values.yaml"
EXISTING_SECRET_VALUES = DEPLOY / "helm" / "ci" / "existing-secret-values.yaml"
K8S_VERSION = "1.35.0"


def kubernetes_validate(deploy_tools, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(deploy_tools["kubernetes-validate"]), "--strict", "--quiet", "-k", K8S_VERSION, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def rendered(helm_template, values: Path) -> list[dict]:
    result = helm_template("-f", str(values))
    assert result.returncode == 0, result.stderr
    return check_manifests.load_documents(result.stdout)


def by_kind(documents, kind, component=None):
    return [
        doc
        for doc in documents
        if doc["kind"] == kind
        and (component is None or doc["metadata"]["labels"].get("app.kubernetes.io/component") == component)
    ]


def rules(problems: list[str]) -> set[str]:
    return {problem.split()[0] for problem in problems}


# --- Helm chart ------------------------------------------------------------------


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda path: path.stem)
def test_the_chart_renders_manifests_that_pass_the_kubernetes_schemas_and_the_rules(
    deploy_tools, helm_template, tmp_path, values
):
    result = helm_template("-f", str(values))
    assert result.returncode == 0, result.stderr
    manifests = tmp_path / "manifests.yaml"
    manifests.write_text(result.stdout)

    validation = kubernetes_validate(deploy_tools, manifests)
    assert validation.returncode == 0, validation.stdout + validation.stderr
    documents = check_manifests.load_documents(result.stdout)
    worker_hpa = bool(by_kind(documents, "HorizontalPodAutoscaler"))
    assert check_manifests.check_kubernetes(documents, worker_hpa=worker_hpa) == []


def test_the_schema_validation_rejects_a_misspelt_field(deploy_tools, helm_template, tmp_path):
    result = helm_template("-f", str(INLINE_VALUES))
    broken = tmp_path / "broken.yaml"
    broken.write_text(result.stdout.replace("  replicas: 1\n", "  replica: 1\n", 1))
    assert broken.read_text() != result.stdout

    validation = kubernetes_validate(deploy_tools, broken)

    assert validation.returncode != 0
    assert "'replica' was unexpected" in validation.stdout + validation.stderr


def test_helm_lint_accepts_the_chart(deploy_tools):
    result = subprocess.run(
        [str(deploy_tools["helm"]), "lint", "--strict", str(CHART), "-f", str(INLINE_VALUES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_web_worker_and_beat_run_as_separate_deployments_with_one_beat(helm_template):
    documents = rendered(helm_template, INLINE_VALUES)

    (web,) = by_kind(documents, "Deployment", "web")
    (worker,) = by_kind(documents, "Deployment", "worker")
    (beat,) = by_kind(documents, "Deployment", "beat")
    assert web["spec"]["template"]["spec"]["containers"][0]["command"][:2] == ["gunicorn", "portal.wsgi"]
    worker_command = worker["spec"]["template"]["spec"]["containers"][0]["command"]
    assert worker_command[:4] == ["celery", "-A", "portal", "worker"]
    assert worker_command[worker_command.index("-Q") + 1] == "default,provisioning"
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    (hpa,) = [h for h in by_kind(documents, "HorizontalPodAutoscaler") if "worker" in h["metadata"]["name"]]
    assert hpa["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"]


def test_web_probes_send_an_allowed_host_to_healthz_and_readyz(helm_template):
    documents = rendered(helm_template, EXISTING_SECRET_VALUES)
    (web,) = by_kind(documents, "Deployment", "web")
    container = web["spec"]["template"]["spec"]["containers"][0]

    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
        http_get = container[probe]["httpGet"]
        assert http_get["path"] == path
        # Django answers 400 to a Host outside ALLOWED_HOSTS, e.g. the pod's IP address.
        assert http_get["httpHeaders"] == [{"name": "Host", "value": "bridge.internal.example.com"}]


def test_migrations_run_in_a_hook_job_after_the_config_and_secret_exist(helm_template):
    documents = rendered(helm_template, INLINE_VALUES)
    (job,) = by_kind(documents, "Job", "migrate")
    (config_map,) = by_kind(documents, "ConfigMap")
    (secret,) = by_kind(documents, "Secret")

    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "python",
        "manage.py",
        "migrate",
        "--noinput",
    ]
    # Hooks run before ordinary resources: the job's ConfigMap and Secret are earlier hooks.
    job_weight = int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
    for resource in (config_map, secret):
        assert "pre-install" in resource["metadata"]["annotations"]["helm.sh/hook"]
        assert int(resource["metadata"]["annotations"]["helm.sh/hook-weight"]) < job_weight


def test_credentials_come_from_the_charts_secret_and_never_from_the_config_map(helm_template):
    documents = rendered(helm_template, INLINE_VALUES)
    (config_map,) = by_kind(documents, "ConfigMap")
    (secret,) = by_kind(documents, "Secret")

    assert config_map["data"]["PORTAL_ENV"] == "production"
    assert config_map["data"]["DEBUG"] == "false"
    credentials = {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "OIDC_CLIENT_SECRET", "METRICS_TOKEN"}
    assert not credentials & set(config_map["data"])
    assert set(secret["stringData"]) == credentials
    for deployment in by_kind(documents, "Deployment"):
        sources = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        assert {"secretRef": {"name": secret["metadata"]["name"]}} in sources


def test_an_ingress_host_may_match_an_allowed_domain_pattern(helm_template):
    result = helm_template(
        "-f",
        str(EXISTING_SECRET_VALUES),
        "--set",
        "ingress.enabled=true",
        "--set",
        "ingress.hosts[0]=portal.example.com",
    )

    assert result.returncode == 0, result.stderr
    (ingress,) = by_kind(check_manifests.load_documents(result.stdout), "Ingress")
    assert ingress["spec"]["rules"][0]["host"] == "portal.example.com"


def test_with_an_existing_secret_the_chart_creates_none_and_uses_it(helm_template):
    documents = rendered(helm_template, EXISTING_SECRET_VALUES)

    assert by_kind(documents, "Secret") == []
    for deployment in by_kind(documents, "Deployment"):
        sources = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        assert {"secretRef": {"name": "bridge-credentials"}} in sources


def test_every_pod_runs_unprivileged_with_requests_and_limits(helm_template):
    documents = rendered(helm_template, INLINE_VALUES)
    pods = by_kind(documents, "Deployment") + by_kind(documents, "Job")
    assert len(pods) == 4

    for doc in pods:
        spec = doc["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
            assert set(container["resources"]["requests"]) == {"cpu", "memory"}
            assert set(container["resources"]["limits"]) == {"cpu", "memory"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "config.ALLOWED_HOSTS=bridge.example.com"], "secret.values.SECRET_KEY is required"),
        (["--set", "secret.existingSecret=creds"], "config.ALLOWED_HOSTS is required"),
        (["-f", str(INLINE_VALUES), "--set", "image.tag=latest"], 'image.tag must be a pinned version, not "latest"'),
        (["-f", str(INLINE_VALUES), "--set", "config.extra.DEBUG=true"], "config.extra.DEBUG is not allowed"),
        (
            ["-f", str(INLINE_VALUES), "--set", "ingress.hosts[0]=portal.example.org"],
            "ingress host portal.example.org is not in config.ALLOWED_HOSTS",
        ),
        (["-f", str(INLINE_VALUES), "--set", "worker.replica=3"], "additional properties 'replica' not allowed"),
        (["-f", str(INLINE_VALUES), "--set", "web.concurrency=0"], "/web/concurrency"),
    ],
    ids=[
        "no-credentials",
        "no-allowed-hosts",
        "latest-tag",
        "debug-override",
        "ingress-host-not-allowed",
        "misspelt-value",
        "no-gunicorn-workers",
    ],
)
def test_the_chart_refuses_unsafe_or_incomplete_values(helm_template, args, message):
    result = helm_template(*args)

    assert result.returncode != 0
    assert message in result.stderr


def deployment(docs, component):
    return by_kind(docs, "Deployment", component)[0]


def container(docs, component):
    return deployment(docs, component)["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize(
    ("break_it", "rule"),
    [
        (lambda docs: deployment(docs, "beat")["spec"].update(replicas=2), "K002"),
        (lambda docs: deployment(docs, "beat")["spec"].update(strategy={"type": "RollingUpdate"}), "K002"),
        (lambda docs: by_kind(docs, "Job", "migrate")[0]["metadata"].update(annotations={}), "K001"),
        (lambda docs: docs.remove(deployment(docs, "beat")), "K001"),
        (lambda docs: container(docs, "web").pop("readinessProbe"), "K003"),
        (lambda docs: container(docs, "worker").update(resources={}), "K004"),
        (lambda docs: deployment(docs, "worker")["spec"]["template"]["spec"].update(securityContext={}), "K005"),
        (lambda docs: container(docs, "web").update(env=[{"name": "SECRET_KEY", "value": "x" * 60}]), "K006"),
        (lambda docs: [docs.remove(h) for h in by_kind(docs, "HorizontalPodAutoscaler")], "K007"),
        (lambda docs: container(docs, "worker")["command"].__setitem__(5, "default"), "K008"),
        (lambda docs: by_kind(docs, "ConfigMap")[0]["data"].update(PORTAL_ENV="development"), "K009"),
    ],
    ids=[
        "two-beats",
        "rolling-beat",
        "migrate-not-a-hook",
        "no-beat",
        "no-readiness",
        "no-resources",
        "root-pod",
        "literal-secret",
        "no-hpa",
        "default-queue-only",
        "development",
    ],
)
def test_the_deployment_rules_catch_a_broken_manifest(helm_template, break_it, rule):
    documents = rendered(helm_template, INLINE_VALUES)
    assert check_manifests.check_kubernetes(documents) == []

    break_it(documents)

    assert rule in rules(check_manifests.check_kubernetes(documents))


# --- compose -----------------------------------------------------------------------


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_runs_web_worker_beat_and_migrate_on_postgres_15_and_redis_7():
    services = compose()["services"]

    assert check_manifests.check_compose(compose()) == []
    assert services["db"]["image"].startswith("postgres:15.")
    assert services["redis"]["image"].startswith("redis:7.")
    assert services["worker"]["command"][:6] == ["celery", "-A", "portal", "worker", "-Q", "default,provisioning"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "portal", "beat"]
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["web"]["environment"]["SECRET_KEY"].startswith("${SECRET_KEY:?")


def test_compose_is_valid_against_the_compose_specification_schema(deploy_tools):
    schema = json.loads(deploy_tools["compose-schema"].read_text())

    assert check_manifests.check_compose_schema(compose(), schema) == []


def test_the_compose_schema_check_rejects_a_misspelt_key(deploy_tools):
    schema = json.loads(deploy_tools["compose-schema"].read_text())
    document = compose()
    document["services"]["web"]["healthchek"] = document["services"]["web"].pop("healthcheck")

    problems = check_manifests.check_compose_schema(document, schema)

    assert any(p.startswith("C000 services/web") and "healthchek" in p for p in problems), problems


def test_the_image_build_context_leaves_out_local_state_and_secrets_but_not_what_the_image_runs():
    patterns = [line for line in (ROOT / ".dockerignore").read_text().split() if not line.startswith("#")]

    assert {".git", ".venv", "var", ".env", "deploy/.env"} <= set(patterns)
    for needed in ("requirements.txt", "manage.py", "portal/wsgi.py", "static/css/bridge.css", "deploy/healthcheck.py"):
        assert (ROOT / needed).exists()
        parents = [needed] + ["/".join(needed.split("/")[:i]) for i in range(1, needed.count("/") + 1)]
        assert not [p for p in patterns for path in parents if fnmatch.fnmatch(path, p)], needed


@pytest.mark.parametrize(
    ("break_it", "rule"),
    [
        (lambda services: services["beat"].update(deploy={"replicas": 2}), "C004"),
        (lambda services: services["web"].pop("healthcheck"), "C002"),
        (lambda services: services["worker"]["depends_on"].pop("migrate"), "C002"),
        (lambda services: services["web"]["environment"].update(SECRET_KEY="hard-coded"), "C003"),
        (lambda services: services["migrate"].update(restart="always"), "C004"),
        (lambda services: services["db"].update(image="postgres:13"), "C001"),
    ],
    ids=["two-beats", "web-unchecked", "worker-before-migrate", "literal-secret", "migrate-restarts", "old-postgres"],
)
def test_the_compose_rules_catch_a_broken_compose_file(break_it, rule):
    document = compose()
    break_it(document["services"])

    assert rule in rules(check_manifests.check_compose(document))


# --- Dockerfile -------------------------------------------------------------------


def test_the_dockerfile_passes_hadolint_and_the_structure_rules(deploy_tools):
    assert lint_dockerfile.lint(DOCKERFILE) == []
    result = subprocess.run(
        [str(deploy_tools["hadolint"]), str(DEPLOY / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_rejects_a_careless_dockerfile(deploy_tools, tmp_path):
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM debian:latest\nRUN apt-get install curl\nCMD curl example.com\n")

    result = subprocess.run(
        [str(deploy_tools["hadolint"]), str(careless)], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode != 0
    assert "DL3007" in result.stdout  # "latest" tag


@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        ("USER 10001:10001\n", "", "BR002"),
        ("USER 10001:10001\n", "USER root\n", "BR002"),
        ("USER 10001:10001\n", "USER 0\n", "BR002"),
        ("ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm", "ARG PYTHON_IMAGE=python:latest", "BR001"),
        ("ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm", "ARG PYTHON_IMAGE=python", "BR001"),
        ("ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm", "ARG PYTHON_IMAGE", "BR001"),
        ("COPY . /app\n", "COPY . /app\nADD https://example.com/tool.tgz /opt/\n", "BR003"),
        ("HEALTHCHECK --interval", "# HEALTHCHECK --interval", "BR004"),
    ],
    ids=["no-user", "root", "uid-0", "latest", "untagged", "unpinned-arg", "add-url", "no-healthcheck"],
)
def test_the_dockerfile_lint_rejects_a_broken_dockerfile(old, new, rule):
    assert old in DOCKERFILE
    broken = DOCKERFILE.replace(old, new)
    if rule == "BR004":
        # Drop the continuation lines of the commented-out HEALTHCHECK too.
        broken = broken.replace('    CMD ["python", "/app/deploy/healthcheck.py"]\n', "")

    assert rule in rules([p.split(": ", 1)[1] for p in lint_dockerfile.lint(broken)])


def test_the_dockerfile_lint_rejects_a_command_before_the_user_switch():
    broken = 'FROM python:3.11.14-slim\nHEALTHCHECK CMD true\nCMD ["gunicorn"]\nUSER 10001\n'

    problems = lint_dockerfile.lint(broken)

    assert any("BR002" in p and "before the USER switch" in p for p in problems), problems


# --- The image's commands, run here with the same settings -------------------------


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(
        PORTAL_ENV="production",
        SECRET_KEY="test-only-production-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        ALLOWED_HOSTS="bridge.example.com",
        PORTAL_VAR_DIR=str(tmp_path / "var"),
        STATIC_ROOT=str(tmp_path / "static"),
    )
    env.update(extra)
    return env


def test_static_files_collect_with_the_production_settings_as_in_the_image_build(tmp_path):
    assert "python manage.py collectstatic --noinput" in DOCKERFILE
    # The throwaway key and host of the Dockerfile's build step must satisfy the production checks.
    build_env = dict(re.findall(r'(SECRET_KEY|ALLOWED_HOSTS)="([^"]+)"', DOCKERFILE))
    assert set(build_env) == {"SECRET_KEY", "ALLOWED_HOSTS"}
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=production_env(tmp_path, **build_env),
        capture_output=True,
        text=True,
        timeout=900,  # compressing every static file takes minutes on a busy 2-core machine
        check=False,
    )

    assert result.returncode == 0, result.stderr
    manifest = tmp_path / "static" / "staticfiles.json"
    assert manifest.exists()  # WhiteNoise's hashed, compressed files
    assert "css/bridge.css" in manifest.read_text()
    assert list((tmp_path / "static" / "css").glob("bridge.*.css.gz"))


def test_the_image_health_check_passes_against_gunicorn_in_production(tmp_path):
    env = production_env(tmp_path)
    server = PortalServer(tmp_path / "gunicorn.log", "--workers", "1").start(env)
    port = server.port

    def healthcheck(allowed_hosts: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(DEPLOY / "healthcheck.py")],
            env={**env, "HEALTHCHECK_PORT": str(port), "ALLOWED_HOSTS": allowed_hosts},
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )

    try:
        result = healthcheck("bridge.example.com")
        assert result.returncode == 0, result.stderr

        # A Host that Django does not answer to fails the check (400), not passes it.
        refused = healthcheck("other.example.com")
        assert refused.returncode == 1
        assert "400" in refused.stderr
    finally:
        server.stop()
