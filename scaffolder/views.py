"""Thin views: parse, check permissions, call a service, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from portal.params import parse_int
from portal.services import ServiceError
from scaffolder import permissions, sandbox, selectors, services
from scaffolder.forms import RunForm, initial_from
from scaffolder.models import RunApproval, RunState


def _visible_run(request, pk):
    run = selectors.run_detail(parse_int(pk) or 0)
    if run is None or not permissions.can_view(request.user, run):
        raise Http404("No such run.")
    return run


@login_required
def index(request):
    tag = request.GET.get("tag", "")[:64]
    owner = request.GET.get("owner", "")[:200]
    tags, owners = selectors.template_filters()
    is_admin = permissions.can_reload_templates(request.user)
    runs = Paginator(selectors.runs_of(request.user), 25).get_page(request.GET.get("page"))
    return render(
        request,
        "scaffolder/index.html",
        {
            "templates": selectors.templates_published(tag=tag, owner=owner),
            "tags": tags,
            "owners": owners,
            "tag": tag,
            "owner": owner,
            "page": runs,
            "can_reload": is_admin,
            "problems": selectors.templates_with_problems() if is_admin else [],
        },
    )


@login_required
@require_POST
def templates_reload(request):
    try:
        results = services.templates_reload(actor=request.user)
    except ServiceError as exc:
        return render(request, "403.html", {"message": str(exc)}, status=403)
    for result in results:
        if result.status == "refused":
            messages.error(request, f"{result.name}: refused. {result.message}")
        else:
            messages.success(request, f"{result.name}: {result.status}")
    return redirect("scaffolder:index")


@sensitive_post_parameters()
@login_required
def template_form(request, name: str):
    template = selectors.templates_published().filter(name=name).first()
    if template is None:
        raise Http404("No such template.")
    initial = {}
    earlier = selectors.run_detail(parse_int(request.GET.get("from")) or 0) if request.GET.get("from") else None
    if earlier is not None and earlier.requester_id == request.user.pk and earlier.template_id == template.pk:
        initial = initial_from(earlier)  # "Change the values" of an earlier preview
    form = RunForm(
        request.POST if request.method == "POST" else None, template=template, user=request.user, initial=initial
    )
    if request.method == "POST":
        valid = form.is_valid()
        try:
            if valid:
                run = services.run_draft(user=request.user, template=template, **form.submitted())
                return redirect("scaffolder:run", pk=run.pk)
            _checked, errors = services.run_check(user=request.user, template=template, **form.submitted())
            form.add_service_errors(errors)
        except services.RunInvalid as exc:
            form.add_service_errors(exc.errors)
        except ServiceError as exc:
            form.add_error(None, str(exc))
    return render(request, "scaffolder/template_form.html", {"template": template, "form": form}, status=200)


def _preview_context(run, selected: str) -> dict:
    try:
        tree = services.file_tree(services.run_preview(run))
    except sandbox.TemplateRefused as exc:
        return {"preview_error": str(exc)}
    chosen = next((f for f in tree if f["path"] == selected), None) or next(
        (f for f in tree if f["path"] == "catalog-info.yaml"), tree[0] if tree else None
    )
    return {"tree": tree, "chosen": chosen}


@login_required
def run_detail(request, pk):
    run = _visible_run(request, pk)
    context = {
        "run": run,
        "steps": list(run.steps.all()),
        "lines": list(run.log_lines.all()[:2000]),
        "approvals": list(RunApproval.objects.filter(run=run).select_related("approver")),
        "can_operate": permissions.can_operate(request.user, run),
        "can_confirm": permissions.can_confirm(request.user, run),
        "can_approve": permissions.can_approve(request.user, run) and run.state == RunState.PENDING_APPROVAL,
    }
    if run.state in (RunState.DRAFT, RunState.PENDING_APPROVAL):
        context.update(_preview_context(run, request.GET.get("file", "")))
    template = "scaffolder/_run_live.html" if request.htmx and request.GET.get("live") else "scaffolder/run_detail.html"
    return render(request, template, context)


def _action(request, pk, call, done: str):
    run = _visible_run(request, pk)
    try:
        call(run)
        if done:
            messages.success(request, done)
    except ServiceError as exc:
        messages.error(request, str(exc))
    return redirect("scaffolder:run", pk=run.pk)


@login_required
@require_POST
def run_confirm(request, pk):
    return _action(request, pk, lambda run: services.run_confirm(user=request.user, run_id=run.pk), "")


@login_required
@require_POST
def run_approve(request, pk):
    comment = request.POST.get("comment", "")[:2000]
    return _action(
        request, pk, lambda run: services.run_approve(user=request.user, run_id=run.pk, comment=comment), "Approved."
    )


@login_required
@require_POST
def run_reject(request, pk):
    comment = request.POST.get("comment", "")[:2000]
    return _action(
        request, pk, lambda run: services.run_reject(user=request.user, run_id=run.pk, comment=comment), "Rejected."
    )


@login_required
@require_POST
def run_retry(request, pk):
    return _action(
        request, pk, lambda run: services.run_retry(user=request.user, run_id=run.pk), "Retrying from the failed step."
    )


@login_required
@require_POST
def run_cleanup(request, pk):
    def call(run):
        removed = services.run_cleanup(user=request.user, run_id=run.pk)
        messages.success(request, "Removed: " + (", ".join(removed) or "nothing (Bridge had created nothing)."))

    return _action(request, pk, call, "")
