"""Commands that span areas: seed-demo, seed-bulk, create-user (deliver-mail is core's, send-reminders workshops')."""
import time

import click

from kil_network.auth.models import MemberType, Role
from kil_network.core.rules import RuleError
from kil_network.devdata import DEMO_LOGINS, seed_demo
from kil_network.devdata.bulk import BULK_PASSWORD, BULK_STAFF_EMAIL, BulkError, seed_bulk
from kil_network.extensions import db
from kil_network.members.models import Region
from kil_network.members.services import create_member


def register_cli(app):
    """Add the site's commands to `flask`."""

    @app.cli.command("seed-demo")
    def seed_demo_command():
        """Load demo data (idempotent) and print the demo logins."""
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
        region = db.session.scalar(db.select(Region).order_by(Region.name))
        try:
            user = create_member(
                name=name or email.split("@")[0], email=email, password=password,
                member_type=MemberType.OTHER, region=region, consent_privacy=True,
                role=Role(role), confirmed=True, source="cli",
            )
        except RuleError as exc:
            raise click.ClickException(exc.message) from exc
        db.session.commit()
        click.echo(f"Created {role} {user.email} (id {user.id}).")
