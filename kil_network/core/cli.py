"""Core's command: deliver-mail (the outbox worker). The cross-area commands are in kil_network.site.cli."""
import signal
import time

import click
from flask import current_app

from kil_network.core.email import deliver_due
from kil_network.extensions import db


def register_cli(app):
    """Add core's commands to `flask`."""

    @app.cli.command("deliver-mail")
    @click.option("--once", is_flag=True, help="Send what is due now, then stop.")
    def deliver_mail_command(once):
        """Send queued emails over SMTP, retrying with back-off; runs until stopped."""
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
