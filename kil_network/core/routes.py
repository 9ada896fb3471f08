"""Infrastructure routes: the health check and the local copies of front-end libraries.

The home page and the other site-wide pages are in `kil_network.site.routes` (they show area data)."""
import sqlalchemy as sa
from flask import Blueprint, abort, jsonify, send_from_directory
from sqlalchemy.exc import SQLAlchemyError

from config import BASE_DIR
from kil_network.extensions import db

bp = Blueprint("core", __name__)

# The only files served from node_modules (installed by `npm ci`, never committed).
VENDOR_FILES = {
    "htmx.min.js": "htmx.org/dist",
    "accessible-autocomplete.min.js": "accessible-autocomplete/dist",
    "accessible-autocomplete.min.css": "accessible-autocomplete/dist",
    "jsQR.js": "jsqr/dist",
}


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
