from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from portal.permissions import is_approver


@login_required
def index(request):
    return render(
        request,
        "partials/empty_app.html",
        {
            "heading": "Environments",
            "empty": "No environment templates are published yet. Platform Admins publish templates; "
            "developers then request environments from them here.",
        },
    )


@login_required
def approvals(request):
    if not is_approver(request.user):
        return render(
            request, "403.html", {"message": "Only Approvers and Platform Admins review requests."}, status=403
        )
    return render(
        request,
        "partials/empty_app.html",
        {"heading": "Approvals", "empty": "No requests are waiting for your approval."},
    )
