from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def index(request):
    return render(
        request,
        "partials/empty_app.html",
        {
            "heading": "Knowledge base",
            "empty": "No spaces yet. Teams keep their articles, runbooks and postmortems here.",
        },
    )
