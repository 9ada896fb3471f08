"""A member's communications in "download my data" and "delete my account": whether their address
is undeliverable, and their consent history, which erasure keeps only as anonymised counts.

Registered by the app factory (`_register_personal_data`); `erase_consent_history` runs before
members.services.erase_profile, which deletes the consent records.
"""
from collections import Counter
from typing import cast

import sqlalchemy as sa

from kil_network.auth.models import User
from kil_network.extensions import db
from kil_network.members.models import ConsentRecord, ConsentWithdrawalCount


def export_email_delivery(user: User) -> dict:
    """Whether the mail server refuses the member's address: refusals in a row, and since when it is
    treated as undeliverable (campaign emails and optional notifications are not sent to it)."""
    return {"permanent_refusals_in_a_row": user.email_bounce_count,
            "undeliverable_since": user.email_undeliverable_at.isoformat() if user.email_undeliverable_at else None}


def _add_withdrawals(kind: str, source: str, month: str, n: int) -> None:
    """Add n to one count (created if new; a concurrent first insert is retried as an update)."""
    key = (ConsentWithdrawalCount.kind == kind, ConsentWithdrawalCount.source == source,
           ConsentWithdrawalCount.month == month)
    add = sa.update(ConsentWithdrawalCount).where(*key).values(withdrawals=ConsentWithdrawalCount.withdrawals + n)
    if cast(sa.CursorResult, db.session.execute(add)).rowcount:
        return
    try:
        with db.session.begin_nested():
            db.session.add(ConsentWithdrawalCount(kind=kind, source=source, month=month, withdrawals=n))
    except sa.exc.IntegrityError:
        db.session.execute(add)


def erase_consent_history(user: User) -> None:
    """Count the member's consent withdrawals (kind, how, month) with no one in them; then their
    consent records go (members.services.erase_profile also deletes any left)."""
    withdrawals = db.session.execute(
        sa.select(ConsentRecord.kind, ConsentRecord.source, ConsentRecord.created_at)
        .where(ConsentRecord.user_id == user.id, ConsentRecord.granted.is_(False),
               ConsentRecord.source != "join")).all()  # not given when joining: never withdrawn
    tallies = Counter((kind, source, at.strftime("%Y-%m")) for kind, source, at in withdrawals)
    for (kind, source, month), n in sorted(tallies.items()):
        _add_withdrawals(kind, source, month, n)
    db.session.execute(sa.delete(ConsentRecord).where(ConsentRecord.user_id == user.id))
