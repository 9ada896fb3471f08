"""The member's notification preferences (/account/notifications) and the one-click
unsubscribe link of campaign emails (/unsubscribe/<token>, RFC 8058)."""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required

from kil_network.core.htmx import render, render_form
from kil_network.extensions import csrf, db
from kil_network.members import notifications
from kil_network.members.forms import NotificationPreferencesForm

bp = Blueprint("notifications", __name__)


@bp.route("/account/notifications", methods=["GET", "POST"])
@login_required
def preferences():
    """The member chooses their optional notifications and gives or withdraws campaign consent."""
    user = current_user._get_current_object()
    chosen = notifications.preferences(user)
    form = NotificationPreferencesForm(data=None if request.method == "POST" else {
        "notifications": [k for k, on in chosen.items() if on], "consent_marketing": user.consent_marketing})
    if form.validate_on_submit():
        ticked = set(form.notifications.data or [])
        notifications.set_preferences(user, {k: k in ticked for k in notifications.KINDS})
        notifications.set_campaign_consent(user, bool(form.consent_marketing.data))
        db.session.commit()
        flash("Your email choices have been saved.", "success")
        return redirect(url_for("notifications.preferences"))
    return render_form("account/notifications.html", "account/_notifications_form.html", form,
                       always_sent=notifications.ALWAYS_SENT)


def _user_or_404(token: str):
    """The member of an unsubscribe token; a forged, malformed or outdated one is a 404."""
    user = notifications.user_from_unsubscribe_token(token)
    if user is None:
        abort(404)
    return user


# One rule for GET and POST, so a token the path converter refuses (a NUL) is a 404 for both.
# Exempt from CSRF on purpose: RFC 8058's one-click POST comes from the member's mail provider
# with no cookies and no form token (body "List-Unsubscribe=One-Click"). The signed token in the
# URL is what authorises it, and all it can do is withdraw consent, the safe direction.
@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt
def unsubscribe(token):
    """GET: what unsubscribing does, with a button; it changes nothing (mail scanners fetch links).
    POST (the button, or a mail client's one-click): withdraw consent to campaign emails
    (idempotent) and confirm, for people and machines alike."""
    user = _user_or_404(token)
    if request.method == "GET":
        return render("account/unsubscribe.html", token=token, subscribed=user.consent_marketing, done=False)
    notifications.unsubscribe(user)
    db.session.commit()
    return render("account/unsubscribe.html", token=token, subscribed=False, done=True)
