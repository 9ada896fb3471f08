"""Workshop commands: `flask send-reminders` (run hourly from cron)."""
import click

from kil_network.extensions import db
from kil_network.workshops.services import send_reminders


def register_cli(app):
    """Add the workshop commands to `flask`."""

    @app.cli.command("send-reminders")
    def send_reminders_command():
        """Email confirmed attendees of workshops starting within 48 hours (once each; idempotent)."""
        count = send_reminders()
        db.session.commit()
        click.echo(f"Queued {count} workshop reminders.")
