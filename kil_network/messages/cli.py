"""The messages area's command: send-scheduled (cron, every minute)."""
import click

from kil_network.messages import services


def register_cli(app):
    """Add `flask send-scheduled`."""

    @app.cli.command("send-scheduled")
    def send_scheduled_command():
        """Queue every scheduled message now due (idempotent: two runs never send one twice)."""
        for message_id, copies in services.send_scheduled():
            click.echo(f"send-scheduled: message {message_id} queued to {copies} members")
