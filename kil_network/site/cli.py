"""The site's command: create-user (deliver-mail is core's, send-reminders workshops', seed-demo and
seed-bulk devdata's)."""
import click

from kil_network.auth.models import MemberType, Role
from kil_network.core.rules import RuleError
from kil_network.extensions import db
from kil_network.members.models import Region
from kil_network.members.services import create_member


def register_cli(app):
    """Add create-user to `flask`."""

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
