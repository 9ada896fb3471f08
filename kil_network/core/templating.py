"""Jinja filters and globals shared by every template (the ones that need area data: kil_network.site.templating)."""
import threading
from collections import OrderedDict

from flask import has_request_context, url_for

from kil_network.core.forms import length_limit
from kil_network.core.timeutil import format_email_clock, format_email_time, format_london


def htmx_src(app) -> str:
    """Where the page loads htmx from: the pinned CDN URL or the local npm copy."""
    url = app.config["HTMX_URL"]
    if url != "local":
        return url
    if not has_request_context() and not app.config.get("SERVER_NAME"):
        return ""  # no page is being rendered (an email queued from a command or worker)
    return url_for("core.vendor", name="htmx.min.js")


class FragmentCache:
    """Rendered fragments memoized on exactly the values they show, never on time.

    `{% call fragment_cache("name", value, ...) %}...{% endcall %}` renders the block once per
    distinct key and then returns that HTML: the key must hold every value the block reads (so a
    changed value is a new key, and nothing is ever stale). The least recently used entries go
    beyond `size`; each process keeps its own."""

    def __init__(self, size: int = 1024):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, *key, caller):
        with self._lock:
            html = self._items.get(key)
            if html is not None:
                self._items.move_to_end(key)
                return html
        html = caller()
        with self._lock:
            self._items[key] = html
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return html

    def clear(self) -> None:
        """Forget every fragment."""
        with self._lock:
            self._items.clear()


def cells_key(rows, labels) -> tuple:
    """What a table of disclosure cells shows, as a key (`FragmentCache`): each group's key, label,
    counts, categories and status, in order (percentages and totals follow from the counts)."""
    return tuple((key, labels.get(key, key), cell.counts, cell.categories, cell.status)
                 for key, cell in rows.items())


def register_template_helpers(app):
    """Make the helpers available to every template."""
    app.jinja_env.filters["london"] = format_london
    app.jinja_env.filters["email_time"] = format_email_time  # every time in templates/email
    app.jinja_env.filters["email_clock"] = format_email_clock
    app.jinja_env.filters["london_date"] = lambda v: format_london(v, "%-d %B %Y")
    app.jinja_env.globals["length_limit"] = length_limit  # the form macros' character count
    app.jinja_env.globals["fragment_cache"] = app.extensions["fragment_cache"] = FragmentCache()
    app.jinja_env.filters["cells_key"] = cells_key

    @app.context_processor
    def inject_globals():
        """Values the layout needs on every page."""
        return {
            "htmx_src": htmx_src(app),
            "htmx_sri": app.config["HTMX_SRI"],
            "contact_email": app.config["CONTACT_EMAIL"],
        }
