"""The principles rounds a workshop may feed, as the principles area provides them.

Workshops sit below principles (a round's results read the workshops' check-ins), so nothing in
workshops imports principles. The app factory hands each app principles' two functions once
(`provide`, called by `kil_network.principles.workshop_rounds.register`); the workshop form asks
here for the rounds to choose from and for the round chosen. An app without them (none is built
so today) offers no rounds.
"""
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from kil_network.core.params import int_arg

EXTENSION = "workshop_rounds"


@dataclass(frozen=True)
class RoundSource:
    """How to list the rounds (`(id, name)` pairs, newest first) and fetch one by id (or None)."""

    choices: Callable[[], list[tuple[str, str]]]
    get: Callable[[int], Any]


def provide(app: Flask, choices: Callable[[], list[tuple[str, str]]], get: Callable[[int], Any]) -> None:
    """Give this app the rounds workshops may feed."""
    app.extensions[EXTENSION] = RoundSource(choices, get)


def _source() -> RoundSource | None:
    return current_app.extensions.get(EXTENSION)


def round_choices() -> list[tuple[str, str]]:
    """(id, name) of the rounds a workshop may feed, newest first."""
    source = _source()
    return source.choices() if source else []


def round_by_id(value):
    """The round with this id (a form's value), or None."""
    rid = int_arg(value)
    source = _source()
    return source.get(rid) if rid and source else None
