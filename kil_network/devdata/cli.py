"""The development-data commands: seed-demo and seed-bulk (registered by the app factory)."""
import time

import click

from kil_network.devdata import DEMO_LOGINS, seed_demo
from kil_network.devdata.bulk import BULK_PASSWORD, BULK_STAFF_EMAIL, BulkError, seed_bulk
from kil_network.extensions import db


def register_cli(app):
    """Add seed-demo and seed-bulk to `flask`."""

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
