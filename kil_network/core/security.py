"""Security headers on every response."""
from flask import current_app, request

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
        if current_app.config.get("ENV_NAME") == "production" and request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
