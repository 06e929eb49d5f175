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
        messages.error(request, "Give the token a name of at most 100 characters.")
        return redirect("profile")
    try:
        new = services.token_create(user=request.user, name=form.cleaned_data["name"])
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
    payload, content_type = metrics.render_latest()
    return HttpResponse(payload, content_type=content_type)


def error_403(request, exception=None):
    return render(request, "403.html", {"message": str(exception) if exception else ""}, status=403)


def error_404(request, exception=None):
    return render(request, "404.html", status=404)


def error_500(request):
    # No request context: whatever broke (the database, say) must not break this page too.
    return HttpResponseServerError(loader.get_template("500.html").render())
