"""Command-line tasks: seed-demo, seed-bulk, create-user, deliver-mail."""
import signal
import time

import click
from flask import current_app

from kil_network.extensions import db


def register_cli(app):
    """Add the project's commands to `flask`."""

    @app.cli.command("seed-demo")
    def seed_demo_command():
        """Load demo data (idempotent) and print the demo logins."""
        from kil_network.core.demo import DEMO_LOGINS, seed_demo

        created = seed_demo()
        db.session.commit()
        click.echo(f"Demo data: {created} records added." if created else "Demo data already loaded.")
        for role, (email, password) in DEMO_LOGINS.items():
            click.echo(f"  Demo {role} login: {email} / {password}")

    @app.cli.command("seed-bulk")
    @click.option("--scale", type=float, default=1.0, show_default=True,
                  help="Fraction of the full size (100,000 members, 1,000,000 votes); 0.01 for a quick run.")
    @click.option("--seed", type=int, default=2026, show_default=True, help="Random seed (same data each time).")
    def seed_bulk_command(scale, seed):
        """Load a large benchmark data set with bulk inserts (refuses if it is already loaded)."""
        from kil_network.core.bulk import BULK_PASSWORD, BULK_STAFF_EMAIL, BulkError, seed_bulk

        start = time.perf_counter()
        try:
            counts = seed_bulk(scale, seed, echo=click.echo)
        except BulkError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"Bulk data at scale {scale:g} loaded in {time.perf_counter() - start:.1f} s: "
                   + ", ".join(f"{n:,} {name.replace('_', ' ')}" for name, n in counts.items()))
        click.echo(f"  Staff login: {BULK_STAFF_EMAIL} / {BULK_PASSWORD}; members bulk0@example.org ... "
                   f"(same password)")

    @app.cli.command("create-user")
    @click.argument("email")
    @click.option("--role", type=click.Choice(["member", "staff", "admin"]), default="member")
    @click.option("--password", required=True)
    @click.option("--name", default=None, help="Full name (defaults to the part before @).")
    def create_user_command(email, role, password, name):
        """Create a confirmed, active account."""
        from kil_network.auth.models import MemberType, Role
        from kil_network.auth.services import AccountError, create_member
        from kil_network.members.models import Region

        region = db.session.scalar(db.select(Region).order_by(Region.name))
        try:
            user = create_member(
                name=name or email.split("@")[0], email=email, password=password,
                member_type=MemberType.OTHER, region=region, consent_privacy=True,
                role=Role(role), confirmed=True, source="cli",
            )
        except AccountError as exc:
            raise click.ClickException(exc.message) from exc
        db.session.commit()
        click.echo(f"Created {role} {user.email} (id {user.id}).")

    @app.cli.command("deliver-mail")
    @click.option("--once", is_flag=True, help="Send what is due now, then stop.")
    def deliver_mail_command(once):
        """Send queued emails over SMTP, retrying with back-off; runs until stopped."""
        from kil_network.core.email import deliver_due

        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        poll = current_app.config["MAIL_POLL_SECONDS"]
        while True:
            try:
                counts = deliver_due(stop=lambda: bool(stopping))  # SIGTERM: finish this email, then stop
            except Exception as exc:  # noqa: BLE001 - the worker must survive a database blip
                db.session.rollback()
                click.echo(f"deliver-mail: {type(exc).__name__}: {exc}", err=True)
                counts = {}
            if any(counts.values()):
                click.echo(f"deliver-mail: {counts}", err=True)
            if once or stopping:
                break
            if not counts.get("sent"):
                time.sleep(poll)
            db.session.remove()
