"""Runs one Terraform command detached from the worker, so that the worker's death does not stop it.

Started as ``python -m provisioning.launcher PREFIX [--capture] -- terraform ...`` in its own
session. It imports nothing from Django (it must start fast and outlive the portal's processes)
and leaves beside ``PREFIX``:

- ``PREFIX.lock``: locked (``flock``) for as long as the launcher or Terraform lives. Whoever
  can take this lock knows that nothing of this step is running any more; a second launcher
  for the same step cannot take it and exits without running anything.
- ``PREFIX.pid``: the launcher's pid, which is also the process group to signal.
- ``PREFIX.out``: Terraform's output, line by line (only stderr with ``--capture``).
- ``PREFIX.json``: with ``--capture``, Terraform's stdout (``show -json``, ``output -json``).
- ``PREFIX.exit``: Terraform's exit code, written once it has exited.

Every file it and Terraform create is readable by the worker's user only (umask 077): plan
files and captured outputs hold secret values.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print("usage: python -m provisioning.launcher PREFIX [--capture] -- COMMAND...", file=sys.stderr)
        return 2
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1 :]
    prefix, capture = options[0], "--capture" in options[1:]
    os.umask(0o077)
    lock = os.open(prefix + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another launcher runs this step; its files are the ones to follow
    if os.path.exists(prefix + ".exit"):
        return 0  # this step already ran to its end
    # This launcher leads its own session, so its pid is the process group Terraform runs in.
    with open(prefix + ".pid", "w") as handle:
        handle.write(str(os.getpid()))
    # The worker interrupts Terraform by signalling this whole process group (Ctrl-C semantics);
    # the launcher stays to record the exit code. Handlers, unlike SIG_IGN, are not inherited.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: None)
    out = open(prefix + ".out", "ab")  # noqa: SIM115  (handed to the child)
    stdout = open(prefix + ".json", "wb") if capture else out  # noqa: SIM115
    try:
        # Terraform inherits the lock: it stays held while Terraform (or its own child) runs,
        # even if this launcher is killed.
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=out, pass_fds=(lock,), close_fds=True
        )
    except OSError as exc:
        out.write(f"Terraform could not be started ({command[0]}): {exc.strerror or exc}\n".encode())
        out.close()
        _record_exit(prefix, 127)
        return 0
    out.close()
    if stdout is not out:
        stdout.close()
    while True:
        try:
            code = process.wait()
            break
        except InterruptedError:  # pragma: no cover (PEP 475 retries; kept for clarity)
            continue
    _record_exit(prefix, code)
    return 0


def _record_exit(prefix: str, code: int) -> None:
    temporary = prefix + ".exit.tmp"
    with open(temporary, "w") as handle:
        handle.write(str(code))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, prefix + ".exit")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
