from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from portal import extensions, health, metrics, selectors, services
from portal.forms import TokenCreateForm
from portal.permissions import role_names


@login_required
def home(request):
    panels = [
        {"panel": panel, "context": panel.context(request.user)} for panel in extensions.home_panels_for(request.user)
    ]
    return render(request, "portal/home.html", {"panels": panels})


@login_required
def profile(request):
    return render(
        request,
        "portal/profile.html",
        {
            "roles": role_names(request.user),
            "teams": extensions.teams_of(request.user),
            "tokens": selectors.tokens_of(request.user),
            "token_form": TokenCreateForm(),
        },
    )


@login_required
@require_POST
def token_create(request):
    form = TokenCreateForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect("profile")
    try:
        new = services.token_create(
            user=request.user,
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            expires_in_days=form.cleaned_data["expires_in_days"],
        )
    except services.ServiceError as exc:
        messages.error(request, str(exc))
        return redirect("profile")
    response = render(request, "portal/token_created.html", {"token": new.token, "key": new.key})
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request, token_id: int):
    try:
        token = services.token_revoke(user=request.user, token_id=token_id)
    except services.ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Token “{token.name}” revoked. Scripts using it can no longer sign in.")
    return redirect("profile")


@require_GET
@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request):
    results = health.readiness()
    failing = {name: problem for name, problem in results.items() if problem}
    body = {
        "status": "ok" if not failing else "unavailable",
        "checks": {name: (problem or "ok") for name, problem in results.items()},
    }
    if failing:
        body["failing"] = sorted(failing)
    return JsonResponse(body, status=503 if failing else 200)


@require_GET
@never_cache
def prometheus_metrics(request):
    from portal.permissions import can_read_metrics

    if not can_read_metrics(request):
        response = HttpResponse(
            "Metrics need a bearer token (METRICS_TOKEN) or an allowed address (METRICS_ALLOWED_IPS).\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    payload, content_type = metrics.render_latest()
    return HttpResponse(payload, content_type=content_type)


def _api_error(request, status: int, code: str, message: str):
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"status": status, "code": code, "message": message}}, status=status)
    return None


def error_403(request, exception=None):
    message = str(exception) if exception else ""
    return _api_error(request, 403, "permission_denied", message or "You do not have permission.") or render(
        request, "403.html", {"message": message}, status=403
    )


def error_404(request, exception=None):
    return _api_error(request, 404, "not_found", "Not found.") or render(request, "404.html", status=404)


def error_500(request):
    # No request context: whatever broke (the database, say) must not break this page too.
    return _api_error(request, 500, "server_error", "Something went wrong on our side.") or HttpResponseServerError(
        loader.get_template("500.html").render()
    )


@login_required
def notifications(request):
    from django.core.paginator import Paginator

    page = Paginator(selectors.notifications_of(request.user), 50).get_page(request.GET.get("page"))
    return render(request, "portal/notifications.html", {"page": page})


@login_required
@require_POST
def notification_open(request, notification_id: int):
    from django.utils.http import url_has_allowed_host_and_scheme

    services.notification_mark_read(user=request.user, notification_id=notification_id)
    target = selectors.notifications_of(request.user).filter(pk=notification_id).values_list("url", flat=True).first()
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("notifications")


@login_required
@require_POST
def notifications_read_all(request):
    count = services.notification_mark_read(user=request.user)
    messages.success(request, f"{count} notification{'s' if count != 1 else ''} marked as read.")
    return redirect("notifications")


@login_required
def notification_preferences(request):
    from portal.forms import NotificationPreferencesForm

    current = selectors.notification_preferences_of(request.user)
    if request.method == "POST":
        form = NotificationPreferencesForm(request.POST, current=current)
        if form.is_valid():
            services.notification_preferences_set(user=request.user, choices=form.choices())
            messages.success(request, "Notification preferences saved.")
            return redirect("notification-preferences")
    else:
        form = NotificationPreferencesForm(current=current)
    return render(request, "portal/notification_preferences.html", {"form": form, "rows": form.rows()})


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """OWASP's CSV injection rule: a cell a spreadsheet would read as a formula gets a leading quote."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


AUDIT_CSV_COLUMNS = [
    "created_at",
    "actor_name",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "changes",
    "ip_address",
]


@login_required
def audit_log(request):
    import csv
    import json

    from django.core.exceptions import PermissionDenied
    from django.core.paginator import Paginator
    from django.http import StreamingHttpResponse

    from portal.filters import AuditEventFilter
    from portal.permissions import can_read_audit_log

    if not can_read_audit_log(request.user):
        raise PermissionDenied("Only Platform Admins can read the audit log.")
    filterset = AuditEventFilter(request.GET, queryset=selectors.audit_events())
    events = filterset.qs if filterset.is_valid() else selectors.audit_events().none()
    if request.GET.get("format") == "csv" and filterset.is_valid():

        class Echo:
            def write(self, value):
                return value

        writer = csv.writer(Echo())

        def rows():
            yield writer.writerow(AUDIT_CSV_COLUMNS)
            for event in events.iterator(chunk_size=2000):
                cells = [
                    event.created_at.isoformat(),
                    event.actor_name,
                    event.action,
                    event.object_type,
                    event.object_id,
                    event.object_repr,
                    json.dumps(event.changes, sort_keys=True, ensure_ascii=False),
                    event.ip_address or "",
                ]
                yield writer.writerow([spreadsheet_safe(cell) for cell in cells])

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="bridge-audit-log.csv"'
        return response
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "portal/audit_log.html", {"filter": filterset, "page": page, "query": query.urlencode()})


@login_required
def search(request):
    from portal.extensions import search_providers

    query = request.GET.get("q", "")
    only = request.GET.get("type", "")
    suggest = request.htmx and request.GET.get("suggest")
    groups = selectors.global_search(request.user, query, per_group=5 if suggest else 50, only=only)
    context = {"query": query, "groups": groups, "only": only, "providers": search_providers()}
    if suggest:
        return render(request, "portal/search_suggestions.html", context)
    return render(request, "portal/search.html", context)
