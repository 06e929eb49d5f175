"""Reads for the pages and the API."""

from __future__ import annotations

from django.db.models import QuerySet

from portal.permissions import is_approver
from scaffolder.models import RunState, ScaffolderRun, SoftwareTemplate


def templates_published(*, tag: str = "", owner: str = "") -> QuerySet[SoftwareTemplate]:
    found = SoftwareTemplate.objects.filter(is_active=True).defer("files")
    templates = list(found)
    if tag:
        templates = [t for t in templates if tag in (t.tags or [])]
    if owner:
        templates = [t for t in templates if t.owner == owner]
    return found.filter(pk__in=[t.pk for t in templates])


def template_filters() -> tuple[list[str], list[str]]:
    """(every tag, every owner) of the published templates, for the filters."""
    tags, owners = set(), set()
    for template in SoftwareTemplate.objects.filter(is_active=True).only("tags", "owner"):
        tags.update(template.tags or [])
        if template.owner:
            owners.add(template.owner)
    return sorted(tags), sorted(owners)


def templates_with_problems() -> QuerySet[SoftwareTemplate]:
    return SoftwareTemplate.objects.exclude(last_load_error="").defer("files")


def runs_of(user) -> QuerySet[ScaffolderRun]:
    """The user's runs, their teams' (as owners), and for approvers the runs waiting for approval."""
    from django.db.models import Q

    from catalog.selectors import teams_of

    runs = ScaffolderRun.objects.select_related("template", "requester").defer("template__files")
    teams = [team.ref for team in teams_of(user).only("kind", "namespace", "name")]
    visible = Q(requester=user) | Q(owner__in=teams)
    if is_approver(user):
        visible |= Q(state=RunState.PENDING_APPROVAL)
    return runs.filter(visible)


def run_detail(pk: int) -> ScaffolderRun | None:
    return ScaffolderRun.objects.select_related("template", "requester").filter(pk=pk).first()
