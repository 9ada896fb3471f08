"""The Keep it Local Network web application: the app factory, the one place that joins the areas.

It imports every layer (see README, Architecture): each area's blueprints, the site's pages and
commands, and the personal-data exporters and erasers, which it registers explicitly.
"""
import os
from urllib.parse import urlsplit

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import BASE_DIR, config_from_env
from kil_network.auth import deliverability
from kil_network.auth.routes import bp as auth_bp
from kil_network.auth.services import load_user
from kil_network.core import delivery as core_delivery
from kil_network.core.cli import register_cli as register_core_cli
from kil_network.core.csrf import register_csrf
from kil_network.core.delivery import register_delivery_listener
from kil_network.core.errors import register_errorhandlers
from kil_network.core.htmx import register_htmx
from kil_network.core.params import DatabaseIntConverter, SafePathConverter, SafeStringConverter
from kil_network.core.personal_data import register_eraser, register_exporter
from kil_network.core.proxy import ProxyHeaderCheck
from kil_network.core.routes import bp as core_bp
from kil_network.core.security import register_security_headers
from kil_network.core.submissions import register_submission_keys
from kil_network.core.templating import register_template_helpers
from kil_network.councils.routes import bp as councils_bp
from kil_network.councils.routes import staff_bp as staff_pledges_bp
from kil_network.devdata.cli import register_cli as register_devdata_cli
from kil_network.evidence import personal_data as evidence_data
from kil_network.evidence.routes import bp as evidence_bp
from kil_network.evidence.routes import principle_evidence_panel
from kil_network.evidence.staff_routes import bp as staff_evidence_bp
from kil_network.extensions import csrf, limiter, login_manager, migrate
from kil_network.journey import personal_data as journey_data
from kil_network.journey.cli import register_cli as register_journey_cli
from kil_network.journey.routes import bp as journey_bp
from kil_network.journey.staff_routes import bp as staff_councils_bp
from kil_network.members import notifications as notification_data
from kil_network.members import personal_data as communication_data
from kil_network.members import search as member_search
from kil_network.members import services as member_data
from kil_network.members.notification_routes import bp as notifications_bp
from kil_network.members.routes import account_bp, joining_bp, organisations_bp, staff_organisations_bp
from kil_network.members.routes import bp as members_bp
from kil_network.messages import services as message_data
from kil_network.messages.cli import register_cli as register_message_cli
from kil_network.messages.routes import bp as staff_messages_bp
from kil_network.messages.routes import updates_bp
from kil_network.models import db  # the db whose metadata holds every model (kil_network/models.py)
from kil_network.principles import personal_data as principle_data
from kil_network.principles import workshop_rounds
from kil_network.principles.history_panels import register_history_panel
from kil_network.principles.moderation_routes import bp as moderation_bp
from kil_network.principles.routes import bp as principles_bp
from kil_network.principles.staff_routes import bp as staff_principles_bp
from kil_network.site.cli import register_cli as register_site_cli
from kil_network.site.routes import bp as site_bp
from kil_network.site.templating import register_site_template_helpers
from kil_network.staff.routes import bp as staff_bp
from kil_network.workshops import personal_data as workshop_data
from kil_network.workshops.cli import register_cli as register_workshop_cli
from kil_network.workshops.routes import bp as workshops_bp
from kil_network.workshops.staff_routes import bp as staff_workshops_bp


def create_app(config=None):
    """Create and configure the app: a few named steps, each small."""
    app = Flask(
        __name__,
        template_folder=str(BASE_DIR / "templates"),
        instance_path=str(BASE_DIR / "instance"),
    )
    app.config.from_object(config or config_from_env())
    _check_config(app)
    _trust_proxies(app)
    os.makedirs(app.instance_path, exist_ok=True)
    _register_extensions(app)
    _register_blueprints(app)
    _register_errorhandlers(app)
    _register_htmx(app)
    _register_template_helpers(app)
    _register_personal_data(app)
    _register_delivery_listeners(app)
    member_search.keep_in_step()  # the member search index follows every flush (members/search.py)
    workshop_rounds.register(app)  # workshops (below principles) get the rounds a workshop may feed
    _register_cli(app)
    return app


def _check_config(app):
    """Refuse to start production without a real secret key, BASE_URL and a mail server."""
    production = app.config.get("ENV_NAME") == "production"
    if production and not os.environ.get("SECRET_KEY"):
        raise RuntimeError("SECRET_KEY must be set in production (KIL_ENV=production).")
    _check_mail_and_hosts(app, production)


def _check_mail_and_hosts(app, production):
    """BASE_URL must be an absolute http(s) URL; only its host (and TRUSTED_HOSTS) may be requested.

    Links in emails are built from BASE_URL alone (core.email.external_url), so a forged Host
    header can never put the attacker's address into a reset link; requests naming any other
    host get 400 from Flask's TRUSTED_HOSTS check. Production needs a real MAIL_SERVER unless
    MAIL_PRINT_TO_CONSOLE is set on purpose."""
    base = urlsplit(app.config.get("BASE_URL") or "")
    if base.scheme not in ("http", "https") or not base.hostname:
        raise RuntimeError("BASE_URL must be set to the site's public address, e.g. "
                           "https://network.keepitlocal.org.uk (links in emails are built from it).")
    app.config["TRUSTED_HOSTS"] = [base.hostname, *app.config.get("EXTRA_TRUSTED_HOSTS", [])]
    if production and not app.config.get("MAIL_SERVER") and not app.config.get("MAIL_PRINT_TO_CONSOLE"):
        raise RuntimeError("MAIL_SERVER must be set in production (or MAIL_PRINT_TO_CONSOLE=true to print "
                           "mail, secret links included, to the worker's console on purpose).")


def _trust_proxies(app):
    """Behind PROXY_COUNT reverse proxies, read the client's address and scheme from X-Forwarded-*."""
    hops = app.config.get("PROXY_COUNT", 0)
    if hops:
        app.wsgi_app = ProxyHeaderCheck(ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops), hops)


def _register_extensions(app):
    """Bind every extension to this app."""
    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to see that page."
    login_manager.login_message_category = "info"
    login_manager.user_loader(load_user)


def _register_blueprints(app):
    """Register one blueprint per area (`<int:...>` ids limited to the database's INTEGER range)."""
    app.url_map.converters["int"] = DatabaseIntConverter  # before any <int:...> rule is added
    # <name> and <path:...> segments with a control character (%00) match no route: a 404.
    app.url_map.converters.update(default=SafeStringConverter, string=SafeStringConverter, path=SafePathConverter)
    app.register_blueprint(core_bp)
    app.register_blueprint(site_bp)
    app.register_blueprint(auth_bp, url_prefix="/auth")
    app.register_blueprint(joining_bp, url_prefix="/auth")  # /auth/join: joining creates a member
    app.register_blueprint(members_bp, url_prefix="/members")
    app.register_blueprint(organisations_bp, url_prefix="/organisations")
    app.register_blueprint(account_bp, url_prefix="/account")
    app.register_blueprint(notifications_bp)  # /account/notifications and /unsubscribe/<token>
    app.register_blueprint(staff_organisations_bp, url_prefix="/staff/organisations")
    app.register_blueprint(staff_bp, url_prefix="/staff")
    app.register_blueprint(workshops_bp)
    app.register_blueprint(staff_workshops_bp, url_prefix="/staff/workshops")
    app.register_blueprint(principles_bp)
    app.register_blueprint(staff_principles_bp, url_prefix="/staff")
    app.register_blueprint(moderation_bp, url_prefix="/staff")  # /staff/moderation: comments and suggestions
    app.register_blueprint(evidence_bp)
    register_history_panel(app, principle_evidence_panel)  # evidence's section of a principle's history page
    app.register_blueprint(staff_evidence_bp, url_prefix="/staff")
    app.register_blueprint(councils_bp)  # the pledge form; the council pages are the journey's
    app.register_blueprint(journey_bp)  # /councils/, /councils/<gss>, its journey and self-assessments
    app.register_blueprint(staff_pledges_bp, url_prefix="/staff")
    app.register_blueprint(staff_councils_bp, url_prefix="/staff")  # /staff/councils/: every council's journey
    app.register_blueprint(staff_messages_bp, url_prefix="/staff/messages")
    app.register_blueprint(updates_bp, url_prefix="/updates")


def _register_errorhandlers(app):
    """Expired forms keep what was typed (core/csrf.py), friendly error pages (fragments for htmx
    requests) and security headers."""
    register_csrf(app)  # after the blueprints: it guards every view registered so far
    register_errorhandlers(app)
    register_security_headers(app)


def _register_htmx(app):
    """Redirects answering htmx requests become `HX-Redirect` (a full page load)."""
    register_htmx(app)


def _register_template_helpers(app):
    """Jinja filters and globals: London times, htmx source, member types."""
    register_template_helpers(app)
    register_site_template_helpers(app)
    register_submission_keys(app)  # {{ submission_key_field() }} in create forms


def _register_personal_data(app):
    """Name what each area holds about a member: its sections of "download my data" and its eraser.

    Erasers run in this order when an account is deleted (the order they had when each module
    registered itself on import); each leaves contributions in place, anonymised."""
    register_exporter(app, "profile", member_data.export_profile)
    register_exporter(app, "consents", member_data.export_consents)
    register_exporter(app, "organisation_editor", member_data.export_organisation_editor)
    register_exporter(app, "notification_preferences", notification_data.export_preferences)
    register_exporter(app, "workshop_registrations", workshop_data.export_registrations)
    register_exporter(app, "principle_votes", principle_data.export_votes)
    register_exporter(app, "principle_suggestions", principle_data.export_suggestions)
    register_exporter(app, "principle_endorsements", principle_data.export_endorsements)
    register_exporter(app, "survey_responses", evidence_data.export_survey)
    register_exporter(app, "evidence_submissions", evidence_data.export_submissions)
    register_exporter(app, "pledges", evidence_data.export_pledges)
    register_exporter(app, "messages_received", message_data.export_messages)  # copies: erase_outbox
    register_exporter(app, "council_champions", journey_data.export_champion_roles)
    register_exporter(app, "council_interests", journey_data.export_interests)
    register_exporter(app, "peer_introductions", journey_data.export_introductions)
    register_exporter(app, "emails_sent", core_delivery.export_outbox)
    register_exporter(app, "email_delivery", communication_data.export_email_delivery)
    register_eraser(app, core_delivery.erase_outbox)
    register_eraser(app, evidence_data.erase_evidence)
    register_eraser(app, communication_data.erase_consent_history)  # counts withdrawals before erase_profile
    register_eraser(app, member_data.erase_profile)
    register_eraser(app, notification_data.erase_preferences)
    register_eraser(app, principle_data.erase_principles)
    register_eraser(app, workshop_data.erase_registrations)
    register_eraser(app, journey_data.erase_journey)  # champion roles stay as "former champion"


def _register_delivery_listeners(app):
    """Told of every email's delivery outcome: auth counts an address's permanent refusals and marks
    it undeliverable (core.delivery)."""
    register_delivery_listener(app, deliverability.record_delivery)


def _register_cli(app):
    """Register the flask commands: deliver-mail (core), send-reminders (workshops), create-user
    (site), seed-demo and seed-bulk (devdata)."""
    register_core_cli(app)
    register_workshop_cli(app)
    register_site_cli(app)
    register_devdata_cli(app)
    register_message_cli(app)  # send-scheduled
    register_journey_cli(app)  # send-assessment-reminders
