"""Sections other areas add to a principle's history page, without principles importing them.

Evidence sits above principles (it links submissions to principles), so the history page cannot
ask it for the evidence that supports a principle. Instead the app factory registers each area's
panel, once per app, and the page renders whatever is registered:

    register_history_panel(app, evidence_routes.principle_evidence_panel)

A panel is `fn(principle) -> Markup`, the HTML of one section of the page.
"""
from collections.abc import Callable

from flask import current_app
from markupsafe import Markup

from kil_network.principles.models import Principle

HistoryPanel = Callable[[Principle], Markup]


def register_history_panel(app, fn: HistoryPanel) -> None:
    """Add a section to every principle's history page of this app (in registration order)."""
    panels = app.extensions.setdefault("principle_history_panels", [])
    if fn not in panels:
        panels.append(fn)


def history_panels(principle: Principle) -> list[Markup]:
    """The registered sections, rendered for this principle."""
    return [fn(principle) for fn in current_app.extensions.get("principle_history_panels", [])]
