"""htmx helpers: one route serves the full page or, for htmx, just the fragment."""
from flask import make_response, render_template, request


def is_htmx() -> bool:
    """True for an htmx request that wants a fragment (not a boosted page load)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def render(page: str, partial: str | None = None, *, status_code: int = 200, **context):
    """Render the partial for htmx requests and the page otherwise; Vary on HX-Request."""
    template = partial if partial and is_htmx() else page
    response = make_response(render_template(template, **context), status_code)
    response.headers["Vary"] = "HX-Request"
    return response


def render_form(page: str, partial: str, form, **context):
    """Render a form; an invalid htmx post gets the form partial with status 422."""
    status = 200
    if form.errors and request.method == "POST":
        status = 422 if is_htmx() else 200
    return render(page, partial, status_code=status, form=form, **context)


def redirect_for_htmx(response):
    """Turn a redirect answering an htmx request into `HX-Redirect`, so the browser loads the page.

    Otherwise the XMLHttpRequest follows the redirect itself and htmx swaps a whole page (the
    "check your email" page, say) into the form that was posted.
    """
    if is_htmx() and response.status_code in (301, 302, 303, 307, 308) and response.location:
        response.headers["HX-Redirect"] = response.location
        del response.headers["Location"]
        response.status_code = 200  # keeps the headers set so far, such as the session cookie
        response.set_data(b"")
        response.vary.add("HX-Request")
    return response


def register_htmx(app):
    """Answer htmx requests in ways htmx understands (redirects become `HX-Redirect`)."""
    app.after_request(redirect_for_htmx)
