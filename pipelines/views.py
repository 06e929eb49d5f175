"""Pipelines pages: thin views that parse, call selectors/services, and render."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from catalog.models import Entity, Kind
from catalog.selectors import teams_of
from pipelines import charts, permissions, selectors, services
from pipelines.forms import (
    SOURCE_OWN,
    WINDOW_CHOICES,
    ConnectRepositoryForm,
    IntegrationForm,
    LinkRepositoryForm,
    ScopeForm,
    SecretForm,
    WindowForm,
)
from pipelines.models import Integration, Repository
from portal.params import parse_int
from portal.services import ServiceError

POLL_SECONDS = 10


def _days(request) -> int:
    form = WindowForm(request.GET)
    return (form.cleaned_data.get("days") or 30) if form.is_valid() else 30


def dashboard_context(repositories, days: int = 30, *, with_metrics: bool = True) -> dict:
    """What the entity, team and tab pages show for a set of repositories."""
    context = {
        "repositories": repositories,
        "runs": selectors.runs_for(repositories, limit=20),
        "branches": selectors.branches_for(repositories),
        "poll_seconds": POLL_SECONDS,
    }
    if with_metrics:
        series = selectors.daily_series(repositories, days=30)
        context.update(
            {
                "days": days,
                "window_choices": WINDOW_CHOICES,
                "stats": [selectors.run_stats(repositories, 7), selectors.run_stats(repositories, 30)],
                "dora": selectors.dora_metrics(repositories, days=days),
                "outcome_chart": charts.outcome_chart(series),
                "duration_chart": charts.duration_chart(series),
                "deployments": selectors.deployments_for(repositories, limit=10),
            }
        )
    return context


@login_required
def index(request):
    page = Paginator(selectors.pipelines_overview(), 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "poll_seconds": POLL_SECONDS,
        "is_admin": permissions.can_manage_integrations(request.user),
        "unmatched": selectors.unmatched_repositories().count()
        if permissions.can_link_repositories(request.user)
        else 0,
        "has_integrations": Integration.objects.exists(),
        "teams": list(teams_of(request.user)[:20]),
    }
    if request.htmx:
        return render(request, "pipelines/_overview_table.html", context)
    return render(request, "pipelines/index.html", context)


def _entity(kind, namespace, name) -> Entity:
    return get_object_or_404(Entity, kind__iexact=kind, namespace__iexact=namespace, name__iexact=name)


@login_required
def entity_dashboard(request, kind: str, namespace: str, name: str):
    entity = _entity(kind, namespace, name)
    repositories = selectors.repositories_for_entities([entity])
    if request.htmx:
        return render(request, "pipelines/_live.html", dashboard_context(repositories, with_metrics=False))
    context = dashboard_context(repositories, _days(request))
    context.update({"subject": entity, "subject_kind": "entity"})
    return render(request, "pipelines/dashboard.html", context)


@login_required
def team_dashboard(request, namespace: str, name: str):
    team = get_object_or_404(Entity, kind=Kind.GROUP, namespace__iexact=namespace, name__iexact=name)
    entities = list(selectors.team_entities(team).order_by("name")[:500])
    repositories = selectors.repositories_for_entities(entities)
    if request.htmx:
        return render(request, "pipelines/_live.html", dashboard_context(repositories, with_metrics=False))
    context = dashboard_context(repositories, _days(request))
    context.update({"subject": team, "subject_kind": "team", "entities": entities})
    return render(request, "pipelines/dashboard.html", context)


def _dora_page(request, *, subject, subject_kind: str, repositories):
    days = _days(request)
    drill = selectors.dora_drilldown(repositories, days=days)
    deployments = Paginator(drill.deployments, 50).get_page(parse_int(request.GET.get("page")) or 1)
    incidents_total = drill.incidents.count()
    context = {
        "subject": subject,
        "subject_kind": subject_kind,
        "days": days,
        "window_choices": WINDOW_CHOICES,
        "dora": selectors.dora_metrics(repositories, days=days, now=drill.end),
        "drill": drill,
        "page": deployments,
        "query": f"days={days}",
        "incidents": list(drill.incidents[:100]),
        "incidents_total": incidents_total,
    }
    return render(request, "pipelines/dora.html", context)


@login_required
def entity_dora(request, kind: str, namespace: str, name: str):
    entity = _entity(kind, namespace, name)
    return _dora_page(
        request,
        subject=entity,
        subject_kind="entity",
        repositories=selectors.repositories_for_entities([entity]),
    )


@login_required
def team_dora(request, namespace: str, name: str):
    team = get_object_or_404(Entity, kind=Kind.GROUP, namespace__iexact=namespace, name__iexact=name)
    entities = list(selectors.team_entities(team).order_by("name")[:500])
    return _dora_page(
        request, subject=team, subject_kind="team", repositories=selectors.repositories_for_entities(entities)
    )


@login_required
def run_detail(request, run_id: int):
    run = selectors.run_detail(run_id)
    if run is None:
        raise Http404("No such run.")
    context = {"run": run, "jobs": list(run.jobs.all()), "poll_seconds": POLL_SECONDS}
    if request.htmx:
        return render(request, "pipelines/_run_body.html", context)
    return render(request, "pipelines/run.html", context)


# --- integrations (Platform Admins) -------------------------------------------------


def _require_admin(user) -> None:
    if not permissions.can_manage_integrations(user):
        raise PermissionDenied("Only Platform Admins manage CI integrations.")


def _integrations_page(request, form=None, status=200, connect_form=None):
    unmatched = Paginator(selectors.unmatched_repositories(), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "pipelines/integrations.html",
        {
            "integrations": selectors.integrations_overview(),
            "connected": Paginator(selectors.connected_repositories(), 50).get_page(request.GET.get("history_page")),
            "connect_form": connect_form or ConnectRepositoryForm(initial={"days": settings.PIPELINES_BACKFILL_DAYS}),
            "form": form or IntegrationForm(),
            "unmatched": unmatched,
            "page": unmatched,
            "link_form": LinkRepositoryForm(),
        },
        status=status,
    )


@login_required
def integrations(request):
    _require_admin(request.user)
    return _integrations_page(request)


def _secret_page(request, new, created: bool):
    receiver_url = request.build_absolute_uri(new.integration.receiver_path())
    response = render(
        request,
        "pipelines/integration_secret.html",
        {
            "integration": new.integration,
            "secret": None if new.integration.secret_chosen else new.secret,
            "receiver_url": receiver_url,
            "created": created,
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def integration_create(request):
    _require_admin(request.user)
    form = IntegrationForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            new = services.integration_create(
                actor=request.user,
                provider=data["provider"],
                name=data["name"],
                repositories=data["repositories"],
                owners=data["owners"],
                secret=data["secret"] if data["secret_source"] == SOURCE_OWN else None,
            )
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            return _secret_page(request, new, created=True)
    return _integrations_page(request, form=form, status=400)


def _integration_or_404(integration_id: int) -> Integration:
    return get_object_or_404(Integration, pk=integration_id)


def _detail_page(request, integration, *, scope_form=None, secret_form=None, status=200):
    response = render(
        request,
        "pipelines/integration.html",
        {
            "integration": integration,
            "receiver_url": request.build_absolute_uri(integration.receiver_path()),
            "scope_form": scope_form
            or ScopeForm(
                initial={
                    "repositories": "\n".join(integration.repositories),
                    "owners": ", ".join(integration.owners),
                }
            ),
            "secret_form": secret_form or SecretForm(),
            "refused": selectors.refused_deliveries(integration, limit=10),
        },
        status=status,
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
def integration_detail(request, integration_id: int):
    _require_admin(request.user)
    return _detail_page(request, _integration_or_404(integration_id))


@login_required
@require_POST
def integration_scope(request, integration_id: int):
    _require_admin(request.user)
    integration = _integration_or_404(integration_id)
    form = ScopeForm(request.POST)
    if form.is_valid():
        try:
            services.integration_scope_set(
                actor=request.user,
                integration_id=integration.pk,
                repositories=form.cleaned_data["repositories"],
                owners=form.cleaned_data["owners"],
            )
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"“{integration.name}” now posts for what you listed; other deliveries get 403.")
            return redirect("pipelines:integration", integration_id=integration.pk)
    return _detail_page(request, integration, scope_form=form, status=400)


@login_required
@require_POST
def integration_secret(request, integration_id: int):
    _require_admin(request.user)
    integration = _integration_or_404(integration_id)
    form = SecretForm(request.POST)
    if form.is_valid():
        try:
            services.integration_secret_set(
                actor=request.user, integration_id=integration.pk, secret=form.cleaned_data["secret"]
            )
        except ServiceError as exc:
            form.add_error("secret", str(exc))
        else:
            messages.success(
                request, f"Secret of “{integration.name}” set. The old one stopped working; deliveries now use yours."
            )
            return redirect("pipelines:integration", integration_id=integration.pk)
    return _detail_page(request, integration, secret_form=form, status=400)


@login_required
@require_POST
def integration_rotate(request, integration_id: int):
    _require_admin(request.user)
    try:
        new = services.integration_rotate(actor=request.user, integration_id=integration_id)
    except ServiceError as exc:
        messages.error(request, str(exc))
        return redirect("pipelines:integrations")
    return _secret_page(request, new, created=False)


@login_required
@require_POST
def integration_delete(request, integration_id: int):
    _require_admin(request.user)
    try:
        name = services.integration_delete(actor=request.user, integration_id=integration_id)
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Integration “{name}” deleted. Its receiver URL now answers 404.")
    return redirect("pipelines:integrations")


@login_required
@require_POST
def repository_link(request, repository_id: int):
    if not permissions.can_link_repositories(request.user):
        raise PermissionDenied("Only Platform Admins link repositories.")
    repo = get_object_or_404(Repository, pk=repository_id)
    form = LinkRepositoryForm(request.POST)
    entity = None
    if form.is_valid() and form.cleaned_data["entity"].strip():
        entity = services.entity_by_ref(form.cleaned_data["entity"].strip())
        if entity is None:
            messages.error(request, f"No catalog entity “{form.cleaned_data['entity']}”. Use kind:namespace/name.")
            return redirect("pipelines:integrations")
    elif not form.is_valid():
        messages.error(request, "Give an entity reference of at most 200 characters.")
        return redirect("pipelines:integrations")
    services.repository_link(actor=request.user, repository_id=repo.pk, entity=entity)
    messages.success(
        request, f"{repo.slug} linked to {entity.ref}." if entity else f"{repo.slug} is no longer linked to an entity."
    )
    return redirect("pipelines:integrations")


@login_required
@require_POST
def repositories_rematch(request):
    if not permissions.can_link_repositories(request.user):
        raise PermissionDenied("Only Platform Admins link repositories.")
    matched = services.repositories_rematch()
    messages.success(request, f"{matched} repositories matched catalog annotations.")
    return redirect(reverse("pipelines:integrations"))


# --- history from the providers' APIs (Platform Admins) -----------------------------


@login_required
@require_POST
def repository_connect(request):
    _require_admin(request.user)
    form = ConnectRepositoryForm(request.POST)
    if form.is_valid():
        try:
            repo = services.repository_connect(
                actor=request.user, url=form.cleaned_data["url"], days=form.cleaned_data["days"]
            )
        except ServiceError as exc:
            form.add_error("url", str(exc))
        else:
            messages.success(
                request,
                f"{repo.slug} connected: Bridge reads its last {repo.history_days} days of runs and deployments "
                "in the background, then asks for changes every few minutes.",
            )
            return redirect(reverse("pipelines:integrations") + "#history")
    return _integrations_page(request, status=400, connect_form=form)


@login_required
@require_POST
def repository_sync(request, repository_id: int):
    _require_admin(request.user)
    try:
        repo = services.repository_history_request(actor=request.user, repository_id=repository_id)
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Bridge asks {repo.get_provider_display()} what changed in {repo.slug} now.")
    return redirect(reverse("pipelines:integrations") + "#history")


@login_required
@require_POST
def repository_disconnect(request, repository_id: int):
    _require_admin(request.user)
    try:
        repo = services.repository_disconnect(actor=request.user, repository_id=repository_id)
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{repo.slug} disconnected; its runs stay, webhooks still update them.")
    return redirect(reverse("pipelines:integrations") + "#history")
