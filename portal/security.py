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
