"""What the global search finds in provisioning: templates and the environments the user may see."""

from django.db.models import Q
from django.urls import reverse

from portal.extensions import SearchHit
from portal.permissions import is_approver
from provisioning.models import EnvironmentRequest, EnvironmentTemplate
from provisioning.permissions import team_ids


def search_templates(user, query: str, limit: int) -> list[SearchHit]:
    templates = (
        EnvironmentTemplate.objects.filter(is_active=True, current_version__isnull=False)
        .filter(
            Q(name__icontains=query)
            | Q(current_version__title__icontains=query)
            | Q(current_version__description__icontains=query)
        )
        .select_related("current_version")
        .order_by("name")[:limit]
    )
    return [
        SearchHit(
            title=t.current_version.title or t.name,
            url=reverse("provisioning:request-new", args=[t.name]),
            kind="template",
            snippet=(t.current_version.description or "")[:200],
        )
        for t in templates
    ]


def search_environments(user, query: str, limit: int) -> list[SearchHit]:
    requests = EnvironmentRequest.objects.filter(name__icontains=query)
    if not is_approver(user):
        requests = requests.filter(Q(requester=user) | Q(team_id__in=team_ids(user)))
    requests = requests.select_related("template").order_by("-created_at")[:limit]
    return [
        SearchHit(
            title=r.name,
            url=reverse("provisioning:request", args=[r.pk]),
            kind=r.get_state_display(),
            snippet=f"{r.template.name} · requested by {r.requester_id and r.requester.get_username()}",
        )
        for r in requests.select_related("requester")
    ]
