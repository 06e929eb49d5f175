"""Fixtures for the scaffolder: a template folder to spoil, teams, and the shipped templates loaded."""

import shutil
from pathlib import Path

import pytest

from catalog.models import Entity, Relation

SHIPPED = Path(__file__).resolve().parents[2] / "scaffolder" / "software_templates" / "python-service"


@pytest.fixture(autouse=True)
def _fast(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SCAFFOLDER_LOCAL_GIT_ROOT = str(tmp_path / "local-git")
    settings.SCAFFOLDER_TEMPLATE_DIRS = []


@pytest.fixture
def template_dir(tmp_path):
    """A copy of the shipped Python service template, to change in a test."""
    target = tmp_path / "templates" / "python-service"
    shutil.copytree(SHIPPED, target)
    return target


@pytest.fixture
def team(developer, teammate):
    """group:default/payments with the developer and the teammate as members (through their User entities)."""
    group = Entity.objects.create(kind="Group", name="payments", ref_key="group:default/payments")
    for user in (developer, teammate):
        member = Entity.objects.create(
            kind="User", name=user.username, portal_user=user, ref_key=f"user:default/{user.username}"
        )
        Relation.objects.create(source=group, type="hasMember", target_ref=member.ref, target=member)
    return group


@pytest.fixture
def published(db):
    from scaffolder import services

    services.templates_reload(actor=None)
    from scaffolder.models import SoftwareTemplate

    return SoftwareTemplate.objects.get(name="python-service")


@pytest.fixture
def custom_template(template_dir, settings):
    """``custom_template(name, extra_yaml)``: a copy of the Python service under another name, published."""

    def _make(name: str, extra: str = "", parameters: str = ""):
        from scaffolder import services
        from scaffolder.models import SoftwareTemplate

        folder = template_dir.parent / name
        if not folder.exists():
            shutil.copytree(template_dir, folder)
        descriptor = folder / "bridge-scaffold.yaml"
        text = (SHIPPED / "bridge-scaffold.yaml").read_text().replace("name: python-service", f"name: {name}")
        text = text.replace("title: Python service", f"title: {name}")
        if parameters:
            text = text.replace("  properties:\n", "  properties:\n" + parameters, 1)
        if extra:
            text = text.replace("approval:\n  policy: auto\n", "") + extra
        descriptor.write_text(text)
        settings.SCAFFOLDER_TEMPLATE_DIRS = [str(template_dir.parent)]
        results = {r.name: r for r in services.templates_reload(actor=None)}
        assert results[name].status != "refused", results[name].message
        return SoftwareTemplate.objects.get(name=name)

    return _make
