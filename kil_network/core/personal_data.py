"""Personal data (UK GDPR): what each area holds about a member, for "download my data" and
"delete my account".

Core holds only the lists; it imports no area. The app factory (`kil_network/__init__.py`,
`_register_personal_data`) names every area's exporter and eraser explicitly, once per app:

    register_exporter(app, "workshop_registrations", workshop_data.export_registrations)
    register_eraser(app, workshop_data.erase_registrations)

`export_sections` gathers every registered section for a member (members.services.export_member);
`run_erasers` runs every eraser when a member deletes their account (members.services.delete_account),
removing personal data while keeping anonymised contributions. A new area that holds personal data
adds its two lines to the factory; a test checks every area with personal data is registered.
"""
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app


@dataclass
class PersonalDataRegistry:
    """One app's exporters (section name, `fn(user) -> JSON-able`) and erasers (`fn(user)`), in order."""

    exporters: list[tuple[str, Callable]] = field(default_factory=list)
    erasers: list[Callable] = field(default_factory=list)


def registry(app) -> PersonalDataRegistry:
    """This app's registry (created on first use)."""
    return app.extensions.setdefault("personal_data", PersonalDataRegistry())


def register_exporter(app, section: str, fn: Callable) -> None:
    """Add `fn(user) -> JSON-able` as the named section of a member's data export."""
    exporters = registry(app).exporters
    if any(name == section for name, _ in exporters):
        raise ValueError(f"The personal-data section {section!r} is registered twice.")
    exporters.append((section, fn))


def register_eraser(app, fn: Callable) -> None:
    """Add `fn(user)`, which removes an area's personal data when an account is deleted."""
    registry(app).erasers.append(fn)


def export_sections(user) -> dict:
    """Every registered section for this member."""
    return {section: fn(user) for section, fn in registry(current_app).exporters}


def run_erasers(user) -> None:
    """Run every registered eraser for this member."""
    for fn in registry(current_app).erasers:
        fn(user)
