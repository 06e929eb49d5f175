"""The addresses incidents had while they were part of the knowledge base (``/knowledge/incidents/...``
and ``/api/knowledge/incidents/...``), kept so links in chat, bookmarks, postmortems and API clients
still work. Each one redirects permanently to the same thing under ``/incidents/`` (``/api/incidents/``).

HTML: 301 for GET and HEAD; 308 for a POST (a form rendered before the move), since a 301 would
turn it into a GET. API: always 308, so a client's POST keeps its method and body.
"""

from django.http import HttpResponsePermanentRedirect
from django.urls import path, reverse


class HttpResponsePermanentRedirectKeepMethod(HttpResponsePermanentRedirect):
    status_code = 308


def moved(pattern_name: str, *, api: bool = False):
    def view(request, **kwargs):
        url = reverse(pattern_name, kwargs=kwargs)
        if request.META.get("QUERY_STRING"):
            url = f"{url}?{request.META['QUERY_STRING']}"
        if api or request.method not in ("GET", "HEAD"):
            return HttpResponsePermanentRedirectKeepMethod(url)
        return HttpResponsePermanentRedirect(url)

    view.csrf_exempt = True  # it only redirects; the new address checks the token
    return view


app_name = "incidents-moved"

urlpatterns = [
    path("incidents/", moved("incidents:list"), name="list"),
    path("incidents/<int:incident_id>/", moved("incidents:incident"), name="incident"),
    path("incidents/<int:incident_id>/steps/", moved("incidents:steps"), name="steps"),
    path("incidents/<int:incident_id>/steps/<int:number>/", moved("incidents:step"), name="step"),
    path("incidents/<int:incident_id>/close/", moved("incidents:close"), name="close"),
    path("s/<slug:key>/p/<slug:slug>/incidents/start/", moved("incidents:start"), name="start"),
]
