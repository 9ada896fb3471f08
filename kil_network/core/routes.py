"""Public pages, health check and the local copies of front-end libraries."""
import sqlalchemy as sa
from flask import Blueprint, abort, jsonify, render_template, send_from_directory
from sqlalchemy.exc import SQLAlchemyError

from config import BASE_DIR
from kil_network.core.services import cached_network_stats
from kil_network.extensions import db

bp = Blueprint("core", __name__)

# The only files served from node_modules (installed by `npm ci`, never committed).
VENDOR_FILES = {
    "htmx.min.js": "htmx.org/dist",
    "accessible-autocomplete.min.js": "accessible-autocomplete/dist",
    "accessible-autocomplete.min.css": "accessible-autocomplete/dist",
}


@bp.get("/")
def home():
    """The campaign and the Network, and a call to join."""
    from kil_network.principles.services import adopted_round, drafts_of

    adopted = adopted_round()
    return render_template("core/home.html", stats=cached_network_stats(), adopted=adopted,
                           principles=drafts_of(adopted) if adopted else [])


@bp.get("/privacy")
def privacy():
    """The privacy notice."""
    return render_template("core/privacy.html")


@bp.get("/accessibility")
def accessibility():
    """The accessibility statement."""
    return render_template("core/accessibility.html")


@bp.get("/contact")
def contact():
    """How to reach the campaign team."""
    return render_template("core/contact.html")


@bp.get("/healthz")
def healthz():
    """Liveness and database check for load balancers and monitoring."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok")


@bp.get("/vendor/<name>")
def vendor(name):
    """Serve a whitelisted front-end library from the local npm install."""
    folder = VENDOR_FILES.get(name)
    if folder is None:
        abort(404)
    return send_from_directory(BASE_DIR / "node_modules" / folder, name, max_age=86400)
