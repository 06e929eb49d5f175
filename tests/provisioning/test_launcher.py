"""Starting a detached step: a launcher that ends before it starts the step is started again."""

import subprocess
import sys

import pytest

from provisioning import terraform


def _step(tmp_path):
    return terraform.StepFiles(tmp_path / "01-step")


def test_a_launcher_that_dies_before_starting_the_step_is_started_again_and_the_step_runs(tmp_path, monkeypatch):
    real_popen = subprocess.Popen
    started = []

    def first_launcher_dies_at_once(args, **kwargs):
        started.append(args)
        if len(started) == 1:  # as if killed before it wrote its pid: it leaves only the lock file
            prefix = args[args.index("provisioning.launcher") + 1]
            die = f"import os; os.close(os.open({prefix + '.lock'!r}, os.O_CREAT | os.O_RDWR)); raise SystemExit(1)"
            return real_popen([sys.executable, "-c", die], **kwargs)
        return real_popen(args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", first_launcher_dies_at_once)
    files = _step(tmp_path)
    process = terraform.launch([sys.executable, "-c", "print('the step ran')"], working_dir=tmp_path, files=files)
    monkeypatch.setattr(subprocess, "Popen", real_popen)
    lines = []
    code, _ = terraform.follow(
        process, on_line=lambda line, number: lines.append(line), controller=terraform.Controller(), timeout=60
    )
    assert len(started) == 2
    assert (code, lines) == (0, ["the step ran"])


def test_a_launcher_that_can_never_start_the_step_fails_the_step_at_once_instead_of_waiting(tmp_path):
    files = terraform.StepFiles(tmp_path / "missing-folder" / "01-step")  # the launcher cannot create its lock
    with pytest.raises(terraform.TerraformError, match="stopped 3 times before starting"):
        terraform.launch([sys.executable, "-c", "print('never')"], working_dir=tmp_path, files=files)
