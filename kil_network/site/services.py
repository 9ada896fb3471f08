"""Headline counts for the home page (members and councils: area data, so they live in the site layer)."""
import time

import sqlalchemy as sa
from flask import current_app

from kil_network.auth.models import Status, User
from kil_network.extensions import db
from kil_network.members.models import LocalAuthority


def network_stats() -> dict:
    """Headline counts for the home page, in one query.

    Councils represented are counted as councils with a member (an EXISTS per council on the
    users' council index), not COUNT(DISTINCT) over every member: at 100,000 members the
    distinct count was most of the home page's time.
    """
    member = sa.and_(User.status == Status.ACTIVE, User.email_confirmed_at.is_not(None))
    members = sa.select(sa.func.count()).select_from(User).where(member).scalar_subquery()
    represented = (sa.select(sa.func.count()).select_from(LocalAuthority)
                   .where(sa.exists().where(User.local_authority_id == LocalAuthority.id, member)).scalar_subquery())
    councils = sa.select(sa.func.count()).select_from(LocalAuthority).scalar_subquery()
    row = db.session.execute(sa.select(members, represented, councils)).one()
    return {"members": row[0], "councils_represented": row[1], "councils": row[2]}


_stats_cache: dict[str, tuple[float, dict]] = {}


def cached_network_stats() -> dict:
    """network_stats kept for HOME_STATS_CACHE_SECONDS in this process (0 turns the cache off).

    Headline counts a minute old are fine on a home page; counting 100,000 members on every
    view was most of its cost."""
    ttl = current_app.config.get("HOME_STATS_CACHE_SECONDS", 0)
    if ttl <= 0:
        return network_stats()
    key = str(db.engine.url)
    now = time.monotonic()
    cached = _stats_cache.get(key)
    if cached is None or now - cached[0] >= ttl:
        cached = _stats_cache[key] = (now, network_stats())
    return cached[1]
