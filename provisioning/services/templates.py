"""Environment templates: publish a version, record a load error, reload the directory."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog.models import Entity
from portal.services import audit_record
from provisioning import library
from provisioning.models import (
    ApprovalPolicy,
    EnvironmentTemplate,
    TemplateVersion,
)


@dataclass(frozen=True)
class LoadResult:
    name: str
    status: str  # created, updated, unchanged, rejected
    version: int | None
    message: str = ""


def template_publish(*, parsed: library.ParsedTemplate, actor=None) -> LoadResult:
    """Create the template or a new version of it, unless the content is unchanged."""
    with transaction.atomic():
        template, created = EnvironmentTemplate.objects.select_for_update().get_or_create(name=parsed.name)
        template.source_path = parsed.source_path
        template.last_load_error = ""
        template.last_loaded_at = timezone.now()
        current = template.current_version
        if current is not None and current.digest == parsed.digest:
            template.save(update_fields=["source_path", "last_load_error", "last_loaded_at"])
            return LoadResult(parsed.name, "unchanged", current.number, "; ".join(parsed.notes))
        d = parsed.descriptor
        approval = parsed.approval
        owner_ref = d.get("owner", "")
        owner_team = None
        if owner_ref:
            ref = owner_ref.split(":", 1)[-1]
            namespace, _, name = ref.rpartition("/")
            owner_team = Entity.objects.filter(
                kind__iexact="group", namespace__iexact=namespace or "default", name__iexact=name
            ).first()
        number = (template.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
        version = TemplateVersion.objects.create(
            template=template,
            number=number,
            digest=parsed.digest,
            title=d["title"],
            description=d.get("description", "").strip(),
            environment_type=d["environmentType"],
            owner_ref=owner_ref,
            owner_team=owner_team,
            parameters_schema=d["parameters"],
            parameter_order=parsed.parameter_order,
            approval_policy=approval["policy"],
            approval_group="" if approval["policy"] == ApprovalPolicy.AUTO else approval["group"],
            approvals_required=approval["count"],
            default_ttl_hours=d["ttl"]["defaultHours"],
            max_ttl_hours=d["ttl"]["maxHours"],
            kubernetes=d.get("kubernetes", {}),
            descriptor=d,
            files=parsed.files,
        )
        template.current_version = version
        template.save()
        audit_record(
            actor=actor,
            action="provisioning.template.publish",
            obj=template,
            changes={"version": number, "digest": parsed.digest},
        )
        return LoadResult(parsed.name, "created" if created else "updated", number, "; ".join(parsed.notes))


def template_reject(*, name: str, source_path: str, reason: str, actor=None) -> LoadResult:
    """Record why a template could not be loaded; its working version stays published."""
    with transaction.atomic():
        # A new template that fails is recorded too (without a version), so admins see why.
        template, _ = EnvironmentTemplate.objects.select_for_update().get_or_create(
            name=name[:63], defaults={"source_path": source_path}
        )
        template.last_load_error = reason
        template.last_loaded_at = timezone.now()
        template.save(update_fields=["last_load_error", "last_loaded_at"])
        audit_record(
            actor=actor,
            action="provisioning.template.reject",
            obj=template,
            changes={"name": name, "source": source_path, "reason": reason},
        )
    current = template.current_version.number if template.current_version_id else None
    return LoadResult(name, "rejected", current, reason)


def templates_reload(*, actor=None, directory=None) -> list[LoadResult]:
    """Load every template directory; each is validated and published or rejected on its own."""
    from portal import safe_yaml

    root = directory or settings.PROVISIONING_TEMPLATES_DIR
    results = []
    for path in library.template_directories(root):
        try:
            parsed = library.read_template(path)
        except library.TemplateProblem as exc:
            # Name the template as its descriptor does if we can read that far, else its directory.
            try:
                text = (path / library.DESCRIPTOR_NAME).read_text()
                name = str((safe_yaml.load(text, name=library.DESCRIPTOR_NAME) or {}).get("name") or "")
            except Exception:
                name = ""
            if not re.match(r"^[a-z0-9][-a-z0-9]{0,62}$", name):
                name = path.name[:63]
            results.append(template_reject(name=str(name), source_path=str(path), reason=str(exc), actor=actor))
            continue
        results.append(template_publish(parsed=parsed, actor=actor))
    return results
