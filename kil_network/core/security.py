"""Security headers on every response."""
from flask import current_app, g, request, session

# Paths whose every response is about a person (their account, or staff views of members).
PRIVATE_PREFIXES = ("/staff", "/account")
# Downloads and data formats: exports, CSVs and calendars are never kept by a cache.
PRIVATE_MIMETYPES = {"text/csv", "application/json", "text/calendar"}
# Session keys that say nothing about the visitor; any other key (a visitor's survey answers
# in progress, say) makes the page theirs.
IMPERSONAL_SESSION_KEYS = {"csrf_token", "_flashes", "_permanent", "_fresh"}
# Files that are the same for everyone (the app's static folder, the vendored htmx).
STATIC_ENDPOINTS = {"static", "core.vendor"}


def is_private_response(response) -> bool:
    """Whether a response may hold personal data, so no browser or proxy may store it.

    Every response to a signed-in user, every /staff and /account response, every export or
    download, every answer to a form post, and every page for a visitor whose session holds
    something of theirs; public pages to anonymous visitors and static files stay cacheable.
    """
    if request.endpoint in STATIC_ENDPOINTS:
        return False
    if request.path.startswith(PRIVATE_PREFIXES) or response.mimetype in PRIVATE_MIMETYPES:
        return True
    if "attachment" in response.headers.get("Content-Disposition", "") or request.method not in ("GET", "HEAD"):
        return True
    user = g.get("_login_user")  # the user Flask-Login loaded for this request, if any
    if user is not None and user.is_authenticated:
        return True
    return any(key not in IMPERSONAL_SESSION_KEYS for key in session)


def _csp() -> str:
    """Content-Security-Policy: no inline scripts; htmx from its configured origin."""
    htmx_url = current_app.config["HTMX_URL"]
    script_src = "'self'"
    if htmx_url.startswith("https://"):
        origin = "/".join(htmx_url.split("/")[:3])
        script_src += f" {origin}"
    return (
        "default-src 'self'; "
        f"script-src {script_src}; "
        "style-src 'self'; "
        "img-src 'self' data:; "
        "form-action 'self'; "
        "frame-ancestors 'none'; "
        "base-uri 'self'; "
        "object-src 'none'"
    )


def register_security_headers(app):
    """Add CSP, framing, sniffing and referrer headers (HSTS in production)."""

    @app.after_request
    def add_headers(response):
        """Headers every response carries."""
        response.headers.setdefault("Content-Security-Policy", _csp())
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if is_private_response(response):
            response.headers["Cache-Control"] = "no-store"
        if current_app.config.get("ENV_NAME") == "production" and request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
