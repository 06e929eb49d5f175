"""Security headers that Django does not set by itself."""

from django.conf import settings

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


class RejectNulCharactersMiddleware:
    """Refuse query strings that carry a NUL character, with a 400.

    No field of the portal can hold one, and PostgreSQL refuses them in text,
    so a search or filter would otherwise end in a server error. Forms and
    serializers already refuse NUL in bodies; this covers the query string.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "%00" in request.META.get("QUERY_STRING", "") or any(
            "\x00" in value for values in request.GET.lists() for value in values[1]
        ):
            message = "The address contains a NUL character, which no field accepts."
            if request.path.startswith("/api/"):
                from django.http import JsonResponse

                return JsonResponse({"error": {"status": 400, "code": "invalid", "message": message}}, status=400)
            from django.http import HttpResponseBadRequest

            return HttpResponseBadRequest(message)
        return self.get_response(request)
