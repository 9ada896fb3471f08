"""The council journey's command: `flask send-assessment-reminders` (daily from cron)."""
import click

from kil_network.extensions import db
from kil_network.journey.reminders import send_assessment_reminders


def register_cli(app):
    """Add `flask send-assessment-reminders`."""

    @app.cli.command("send-assessment-reminders")
    def send_assessment_reminders_command():
        """Remind councils whose yearly re-assessment is due within 30 days (once per assessment; idempotent)."""
        count = send_assessment_reminders()
        db.session.commit()
        click.echo(f"Queued {count} re-assessment reminders.")
