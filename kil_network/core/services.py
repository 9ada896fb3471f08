"""Core queries used by public pages."""
import sqlalchemy as sa

from kil_network.auth.models import Status, User
from kil_network.extensions import db
from kil_network.members.models import LocalAuthority


def network_stats() -> dict:
    """Headline counts for the home page, in one query."""
    row = db.session.execute(
        sa.select(
            sa.func.count(User.id),
            sa.func.count(sa.distinct(User.local_authority_id)),
        ).where(User.status == Status.ACTIVE, User.email_confirmed_at.is_not(None))
    ).one()
    councils = db.session.scalar(sa.select(sa.func.count(LocalAuthority.id)))
    return {"members": row[0], "councils_represented": row[1], "councils": councils}
