"""Service docs (TechDocs-style): an entity's own mkdocs folder, built and served."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog.models import Entity
from knowledge import permissions
from knowledge.models import (
    ServiceDocsBuild,
)
from knowledge.services.sites import _publish_site, sites_dir
from portal.services import PermissionDenied, audit_record

logger = logging.getLogger(__name__)


TECHDOCS_ANNOTATION = "backstage.io/techdocs-ref"


def service_docs_source(entity: Entity) -> Path:
    """The local directory of an entity's docs, from ``backstage.io/techdocs-ref: dir:<path>``.

    Relative paths are read from the entity's ``file:`` location (where its catalog-info.yaml
    lives) or else from the first import root; the result must stay under KNOWLEDGE_IMPORT_ROOTS.
    """
    from knowledge.mkdocs_project import ProjectError

    ref = str((entity.annotations or {}).get(TECHDOCS_ANNOTATION, "")).strip()
    if not ref:
        raise ProjectError(f"{entity.ref} has no {TECHDOCS_ANNOTATION} annotation.")
    if not ref.startswith("dir:"):
        raise ProjectError(f"Only “dir:” docs references are built here, not “{ref.split(':', 1)[0]}:”.")
    roots = [Path(r).resolve() for r in getattr(settings, "KNOWLEDGE_IMPORT_ROOTS", [])]
    if not roots:
        raise ProjectError("No docs source root is configured (KNOWLEDGE_IMPORT_ROOTS).")
    path = Path(ref[4:].strip() or ".")
    if not path.is_absolute():
        location = str((entity.annotations or {}).get("backstage.io/managed-by-location", ""))
        base = roots[0]
        if location.startswith("file:"):
            base = Path(location[5:]).parent
        path = base / path
    resolved = path.resolve()
    if not any(resolved.is_relative_to(root) for root in roots):
        raise ProjectError("The docs directory is outside the configured source roots.")
    if not resolved.is_dir():
        raise ProjectError(f"The docs directory {resolved} does not exist on the server.")
    return resolved


def service_docs_build_request(*, actor, entity: Entity) -> ServiceDocsBuild:
    if actor is not None and not permissions.can_build_service_docs(actor, entity):
        raise PermissionDenied("Only the owning team or Platform Admins can rebuild these docs.")
    with transaction.atomic():
        build = ServiceDocsBuild.objects.create(entity=entity, requested_by=actor)
        audit_record(actor=actor, action="knowledge.docs.build", obj=entity, changes={"build": build.pk})
        from knowledge.tasks import build_service_docs

        transaction.on_commit(lambda: build_service_docs.delay(build.pk))
    return build


def service_docs_dir(entity_id: int) -> Path:
    return sites_dir() / "entities" / str(int(entity_id))


def service_docs_build_run(*, build_id: int) -> ServiceDocsBuild:
    """Copy the checked source, build it with ``mkdocs build --strict`` and publish (idempotent)."""
    import shutil

    from knowledge.mkdocs_project import ProjectError, load_config
    from knowledge.mkdocs_project import build as mkdocs_build

    claimed = ServiceDocsBuild.objects.filter(pk=build_id, status=ServiceDocsBuild.Status.QUEUED).update(
        status=ServiceDocsBuild.Status.RUNNING
    )
    build = ServiceDocsBuild.objects.select_related("entity").get(pk=build_id)
    if not claimed:
        return build
    ok, log = False, ""
    try:
        source = service_docs_source(build.entity)
        build.source = str(source)
        target = service_docs_dir(build.entity_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="bridge-docs-", dir=target.parent) as tmp:
            # Copy only what mkdocs reads (mkdocs.yml and docs_dir), following the links that were
            # checked to stay inside the source, so the copy that is built has no links at all.
            config = load_config(source)
            copy = Path(tmp) / "src"
            docs_rel = config["_docs_path"].relative_to(source)
            copy.mkdir()
            cfg = copy / config["_config_path"].name
            shutil.copyfile(config["_config_path"], cfg)
            shutil.copytree(config["_docs_path"], copy / docs_rel, symlinks=False)
            load_config(copy)  # check the copy that is built, not only the original
            out = Path(tmp) / "site"
            ok, log = mkdocs_build(cfg, out)
            if ok:
                _publish_site(out, target, Path(tmp) / "old")
    except ProjectError as exc:
        ok, log = False, f"Refused: {exc}"
    except (OSError, shutil.Error) as exc:
        # E.g. a broken link in the docs folder: record it rather than leave the build running.
        ok, log = False, f"Could not read the docs source or publish the site: {exc}"
    except Exception as exc:  # a build must end as failed, never stay "running"
        logger.exception("Docs build %s of %s failed", build.pk, build.entity.ref)
        ok, log = False, f"The build failed: {exc.__class__.__name__}: {exc}"
    build.status = ServiceDocsBuild.Status.SUCCEEDED if ok else ServiceDocsBuild.Status.FAILED
    build.log = log
    build.finished_at = timezone.now()
    build.save(update_fields=["status", "log", "source", "finished_at"])
    return build
