"""Thin views: parse, check permissions, call a service, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_htmx.http import retarget

from portal.params import parse_int
from portal.services import ServiceError
from provisioning import permissions, selectors, services
from provisioning.forms import DecisionForm, RequestForm


def _forbidden(request, message: str):
    return render(request, "403.html", {"message": message}, status=403)


def _visible_request(request, pk: int, *, lean: bool = False):
    env_request = selectors.request_for_log(pk) if lean else selectors.request_detail(pk)
    if env_request is None or not permissions.can_view(request.user, env_request):
        raise Http404("No such request.")
    return env_request


@login_required
def index(request):
    page = Paginator(selectors.requests_of(request.user), 50).get_page(request.GET.get("page"))
    is_admin = permissions.can_reload_templates(request.user)
    return render(
        request,
        "provisioning/index.html",
        {
            "templates": selectors.templates_published(),
            "page": page,
            "can_reload": is_admin,
            "problems": selectors.templates_with_problems() if is_admin else [],
        },
    )


@login_required
@require_POST
def templates_reload(request):
    if not permissions.can_reload_templates(request.user):
        return _forbidden(request, "Only Platform Admins reload templates.")
    results = services.templates_reload(actor=request.user)
    if not results:
        messages.warning(request, "No templates were found in the templates directory.")
    for result in results:
        label = f"{result.name}: {result.status}" + (f" (v{result.version})" if result.version else "")
        if result.status == "rejected":
            messages.error(request, f"{label}. {result.message}")
        else:
            messages.success(request, label)
    return redirect("provisioning:index")


@sensitive_post_parameters()
@login_required
def request_new(request, name: str):
    template = selectors.templates_published().filter(name=name).first()
    if template is None:
        raise Http404("No such template.")
    version = template.current_version
    # Bound on every POST, even an empty one, so an empty submission shows the form's errors.
    form = RequestForm(request.POST if request.method == "POST" else None, version=version, user=request.user)
    if request.method == "POST":
        try:
            if form.is_valid():
                env_request = services.request_submit(user=request.user, template=template, **form.submitted())
                messages.success(request, f"Request for {env_request.name} submitted; Terraform is planning it.")
                return redirect("provisioning:request", pk=env_request.pk)
            # Some fields did not parse: the service still checks the others, so every error shows now.
            form.add_service_errors(services.request_errors(user=request.user, template=template, **form.submitted()))
        except services.RequestInvalid as exc:
            form.add_service_errors(exc.errors)
        except ServiceError as exc:
            form.add_error(None, str(exc))
    status = 400 if request.method == "POST" else 200
    return render(request, "provisioning/request_form.html", {"template": template, "form": form}, status=status)


def _live_context(request, env_request):
    runs = selectors.runs_of(env_request)
    user = request.user
    version = env_request.template_version
    return {
        "req": env_request,
        "runs": runs,
        "transitions": list(env_request.transitions.select_related("actor")[:200]),
        "approvals": list(env_request.approvals.select_related("approver")[:50]),
        "approval_count": selectors.approval_count(env_request),
        "approvals_needed": version.approvals_required if version.approval_policy == "distinct" else 1,
        "can_cancel": permissions.can_cancel(user, env_request)
        and env_request.state not in ("active", "rejected", "canceled", "destroying", "destroyed")
        and not (env_request.state == "failed" and runs and runs[-1].kind == "destroy")
        and not (services.apply_failed(env_request) and not permissions.is_platform_admin(user)),
        "can_retry": permissions.can_cancel(user, env_request) and env_request.state == "failed",
        "can_decide": permissions.can_approve(user, env_request) and env_request.state == "awaiting_approval",
        "cancel_pending": any(r.cancel_requested and not r.is_finished for r in runs),
        "destroy_failed": env_request.state == "failed" and bool(runs) and runs[-1].kind == "destroy",
        "can_manage": permissions.can_destroy(user, env_request),
        "can_destroy_failed": permissions.can_destroy(user, env_request) and services.apply_failed(env_request),
    }


def _log_context(env_request, run, after: int = 0):
    lines = selectors.log_lines(run, after=after) if run else []
    last = lines[-1].number if lines else after
    more = run is not None and last < run.line_count
    polling = run is not None and (not run.is_finished or more or env_request.is_moving)
    return {"req": env_request, "run": run, "lines": lines, "after": last, "polling": polling}


@login_required
def request_detail(request, pk: int):
    env_request = _visible_request(request, pk)
    context = _live_context(request, env_request)
    context.update(_log_context(env_request, context["runs"][-1] if context["runs"] else None))
    context["decision_form"] = DecisionForm()
    if env_request.state == "failed" and not any(r.status == "running" for r in context["runs"]):
        from provisioning import runs as run_files

        context["state_lock"] = run_files.state_lock(env_request)
        context["can_release_lock"] = permissions.is_platform_admin(request.user)
    return render(request, "provisioning/request_detail.html", context)


@login_required
def request_live(request, pk: int):
    env_request = _visible_request(request, pk)
    return render(request, "provisioning/_request_live.html", _live_context(request, env_request))


@login_required
def request_log(request, pk: int):
    """New log lines after ``after`` for htmx; the whole log section when a newer run started."""
    env_request = _visible_request(request, pk, lean=True)
    latest = selectors.latest_run(env_request)
    run_id = parse_int(request.GET.get("run", "0")) or 0
    after = parse_int(request.GET.get("after", "0")) or 0
    if latest is None or latest.pk != run_id:
        response = render(request, "provisioning/_log_section.html", _log_context(env_request, latest))
        return retarget(response, "#log-section")
    return render(request, "provisioning/_log_poll.html", _log_context(env_request, latest, after))


def _action(request, pk: int, action, success: str):
    env_request = _visible_request(request, pk)
    try:
        action(env_request)
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, success)
    return redirect("provisioning:request", pk=env_request.pk)


@login_required
@require_POST
def request_cancel(request, pk: int):
    return _action(
        request,
        pk,
        lambda r: services.request_cancel(user=request.user, request_id=r.pk),
        "Cancel requested. A running Terraform command is interrupted and stops cleanly.",
    )


@login_required
@require_POST
def request_retry(request, pk: int):
    return _action(
        request,
        pk,
        lambda r: services.request_retry(user=request.user, request_id=r.pk),
        "Retrying. A failed destroy is destroyed again; a failed request is planned again and needs approval again.",
    )


def _decision_comment(request) -> str:
    form = DecisionForm(request.POST)
    return form.cleaned_data["comment"] if form.is_valid() else ""


def _after_decision(request, pk: int):
    """Back to the approvals queue when the decision was made there, else to the request."""
    if request.POST.get("from") == "approvals":
        return redirect("provisioning:approvals")
    return redirect("provisioning:request", pk=pk)


@login_required
@require_POST
def request_approve(request, pk: int):
    env_request = _visible_request(request, pk)
    try:
        services.request_approve(user=request.user, request_id=env_request.pk, comment=_decision_comment(request))
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        if selectors.run_waiting_for_broker(env_request.pk):
            messages.success(
                request,
                f"You approved {env_request.name}. The task queue cannot be reached right now, so the apply "
                "starts by itself as soon as a worker is reachable; nobody needs to approve or click again.",
            )
        else:
            messages.success(request, f"You approved {env_request.name}.")
    return _after_decision(request, pk)


@login_required
@require_POST
def request_reject(request, pk: int):
    env_request = _visible_request(request, pk)
    try:
        services.request_reject(user=request.user, request_id=env_request.pk, comment=_decision_comment(request))
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"You rejected {env_request.name}; the requester is told why.")
    return _after_decision(request, pk)


@login_required
def approvals(request):
    if not permissions.is_approver(request.user):
        return _forbidden(request, "Only Approvers and Platform Admins review requests.")
    page = Paginator(selectors.approvals_for(request.user), 50).get_page(request.GET.get("page"))
    return render(request, "provisioning/approvals.html", {"page": page, "decision_form": DecisionForm()})


# --- environments: live status, extend, destroy, drift --------------------------------


@login_required
def request_status(request, pk: int):
    """The namespace as the cluster sees it now (htmx polls this partial)."""
    from provisioning import kubernetes as kube

    env_request = _visible_request(request, pk)
    context = {"req": env_request, "status": None, "error": ""}
    if env_request.state == "active" and env_request.cluster_id and env_request.namespace:
        try:
            context["status"] = kube.read_status(env_request.cluster.connection(), env_request.namespace)
        except kube.ClusterError as exc:
            context["error"] = str(exc)
    return render(request, "provisioning/_cluster_status.html", context)


@login_required
@require_POST
def request_extend(request, pk: int):
    env_request = _visible_request(request, pk)
    try:
        hours = int(request.POST.get("hours", ""))
    except ValueError:
        hours = 0
    try:
        updated = services.request_extend(user=request.user, request_id=env_request.pk, hours=hours)
    except services.RequestInvalid as exc:
        messages.error(request, " ".join(exc.errors.get("hours", [str(exc)])))
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Extended: {updated.name} now expires {updated.expires_at:%Y-%m-%d %H:%M} UTC.")
    return redirect("provisioning:request", pk=env_request.pk)


@login_required
@require_POST
def request_destroy(request, pk: int):
    env_request = _visible_request(request, pk)
    try:
        services.request_destroy(user=request.user, request_id=env_request.pk, confirm=request.POST.get("confirm", ""))
    except services.RequestInvalid as exc:
        messages.error(request, " ".join(exc.errors.get("confirm", [str(exc)])))
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Destroying {env_request.name}: the namespace is deleted, then Terraform destroys.")
    return redirect("provisioning:request", pk=env_request.pk)


@login_required
@require_POST
def request_drift(request, pk: int):
    return _action(
        request,
        pk,
        lambda r: services.request_drift_check(user=request.user, request_id=r.pk),
        "Drift check queued; the result appears on this page in a moment.",
    )


@login_required
@require_POST
def request_reapply(request, pk: int):
    return _action(
        request,
        pk,
        lambda r: services.request_reapply(user=request.user, request_id=r.pk),
        "Re-apply requested: Terraform plans again, then the change goes through approval.",
    )


@login_required
def drifted(request):
    page = Paginator(selectors.drifted_visible_to(request.user), 50).get_page(request.GET.get("page"))
    return render(request, "provisioning/drifted.html", {"page": page})


@login_required
@require_POST
def request_release_lock(request, pk: int):
    env_request = _visible_request(request, pk)
    try:
        message = services.request_release_lock(
            user=request.user,
            request_id=env_request.pk,
            lock_id=request.POST.get("lock_id", ""),
            confirm=request.POST.get("confirm") == "yes",
        )
    except services.RequestInvalid as exc:
        messages.error(request, " ".join(exc.errors.get("confirm", [str(exc)])))
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, message)
    return redirect("provisioning:request", pk=env_request.pk)
