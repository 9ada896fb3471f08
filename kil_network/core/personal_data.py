"""Personal data (UK GDPR): each area registers what it holds about a member.

`export_sections` gathers every area's section for "download my data"; `erasers` run
when a member deletes their account, removing personal data while keeping anonymised
contributions. Later areas (workshops, principles, evidence) register their own.
"""
from collections.abc import Callable

_exporters: list[tuple[str, Callable]] = []
_erasers: list[Callable] = []


def exporter(section: str):
    """Register `fn(user) -> JSON-able` as the named section of a member's data export."""

    def decorate(fn):
        _exporters.append((section, fn))
        return fn

    return decorate


def eraser(fn):
    """Register `fn(user)` to remove an area's personal data when an account is deleted."""
    _erasers.append(fn)
    return fn


def export_sections(user) -> dict:
    """Every registered section for this member."""
    return {section: fn(user) for section, fn in _exporters}


def run_erasers(user) -> None:
    """Run every registered eraser for this member."""
    for fn in _erasers:
        fn(user)
