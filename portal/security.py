"""Security headers that Django does not set by itself."""

from django.conf import settings
from django.core.exceptions import SuspiciousOperation

DEFAULT_CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    # Inline style *attributes* only (the admin uses a few); no inline <style> or <script>.
    "style-src-attr": "'unsafe-inline'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def content_security_policy() -> str:
    policy = dict(DEFAULT_CSP)
    policy.update(getattr(settings, "CONTENT_SECURITY_POLICY_OVERRIDES", {}))
    return "; ".join(f"{directive} {value}" for directive, value in policy.items() if value)


class SecurityHeadersMiddleware:
    """Adds a Content-Security-Policy (unless a view set its own) and a Permissions-Policy."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.csp = content_security_policy()

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.csp)
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response


def _has_nul(query_dict) -> bool:
    return any("\x00" in value for _name, values in query_dict.lists() for value in values)


def _form_has_nul(request) -> bool:
    # Only url-encoded forms (htmx posts, small forms): reading one here leaves it readable by the
    # view, and a body over the size limit raises again there, where the view explains it.
    # Multipart uploads go through Django forms, whose fields refuse NUL themselves.
    if request.method != "POST" or request.content_type != "application/x-www-form-urlencoded":
        return False
    try:
        return _has_nul(request.POST)
    except SuspiciousOperation:
        return False


class RejectNulCharactersMiddleware:
    """Refuse addresses (path or query string) and url-encoded forms that carry a NUL character, with a 400.

    No field of the portal can hold one, and PostgreSQL refuses them in text,
    so a search, a filter or a value a view reads without a Django form (an
    htmx step note, a username to link) would otherwise end in a server error.
    Serializers refuse NUL in JSON bodies themselves.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        address_has_nul = (
            "\x00" in request.path_info or "%00" in request.META.get("QUERY_STRING", "") or _has_nul(request.GET)
        )
        if address_has_nul or _form_has_nul(request):
            where = "The address contains" if address_has_nul else "A field of the form contains"
            message = f"{where} a NUL character, which no field accepts."
            if request.path.startswith("/api/"):
                from django.http import JsonResponse

                return JsonResponse({"error": {"status": 400, "code": "invalid", "message": message}}, status=400)
            from django.http import HttpResponseBadRequest

            return HttpResponseBadRequest(message)
        return self.get_response(request)
