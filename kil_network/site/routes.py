"""The home page and the site-wide pages every layout links to (privacy, accessibility, contact)."""
from flask import Blueprint, render_template

from kil_network.principles.services import adopted_round, drafts_of
from kil_network.site.services import cached_network_stats

bp = Blueprint("site", __name__)


@bp.get("/")
def home():
    """The campaign and the Network, and a call to join."""
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
