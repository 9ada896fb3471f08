"""Undeliverable addresses: a member's address the mail server keeps refusing permanently.

The mail worker (core.email.deliver_due) tells core.delivery's listeners of every outcome; the app
factory registers `record_delivery` as one. Each permanent refusal of the address (SMTP 5xx, outcome
REFUSED) adds one to `User.email_bounce_count`; at MAIL_UNDELIVERABLE_AFTER in a row the address is
marked undeliverable (`email_undeliverable_at`, audited): campaign emails and optional notifications
skip it, staff see it on the member's page. A later delivery to the address, or a new address
(`clear_undeliverable`, from the email change), starts again from nothing. Temporary refusals (4xx)
and failures that are not about the address count for nothing.
"""
import sqlalchemy as sa
from flask import current_app

from kil_network.auth.models import User
from kil_network.core.addresses import normalise_email
from kil_network.core.audit import record
from kil_network.core.delivery import REFUSED, SENT
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db


def record_delivery(mail, outcome: str, code: int | None) -> None:
    """Count a permanent refusal of the member's address, or clear the count after a delivery."""
    address = normalise_email(mail.to_address)
    if not address:
        return
    if outcome == SENT:
        db.session.execute(
            sa.update(User)
            .where(User.email == address,
                   sa.or_(User.email_bounce_count > 0, User.email_undeliverable_at.is_not(None)))
            .values(email_bounce_count=0, email_undeliverable_at=None))
    elif outcome == REFUSED:
        user = db.session.scalar(sa.select(User).where(User.email == address).with_for_update())
        if user is None:
            return
        user.email_bounce_count += 1
        after = current_app.config["MAIL_UNDELIVERABLE_AFTER"]
        if user.email_bounce_count >= after and user.email_undeliverable_at is None:
            user.email_undeliverable_at = utcnow()
            record(None, "member.email_undeliverable", user,
                   f"Email address of member #{user.id} marked undeliverable: the mail server refused it "
                   f"{user.email_bounce_count} times in a row", smtp_code=code)


def clear_undeliverable(user: User) -> None:
    """A new address: nothing has been refused yet."""
    user.email_bounce_count = 0
    user.email_undeliverable_at = None
