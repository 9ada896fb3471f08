"""What the workshops area needs to know of rounds, handed down to it by the app factory.

Workshops sit below principles and never import it; `register(app)` gives its registry
(`kil_network.workshops.rounds`) the list of rounds for the workshop form and the lookup of the
round chosen.
"""
import sqlalchemy as sa
from flask import Flask

from kil_network.extensions import db
from kil_network.principles.models import Round
from kil_network.workshops import rounds


def round_choices() -> list[tuple[str, str]]:
    """(id, name) of every principles round, newest first."""
    return [(str(i), n) for i, n in db.session.execute(sa.select(Round.id, Round.name).order_by(Round.id.desc()))]


def get_round(round_id: int) -> Round | None:
    """The round with this id, or None."""
    return db.session.get(Round, round_id)


def register(app: Flask) -> None:
    """Give the workshops area this app's rounds."""
    rounds.provide(app, round_choices, get_round)
