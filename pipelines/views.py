from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def index(request):
    return render(
        request,
        "partials/empty_app.html",
        {
            "heading": "Pipelines",
            "empty": "No pipeline runs yet. A Platform Admin adds a CI integration (GitHub, GitLab or generic "
            "webhooks); runs then show here per service and branch.",
        },
    )
