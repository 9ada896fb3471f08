"""Committing a request's one transaction."""
from kil_network.extensions import db


def commit_keeping_loaded() -> None:
    """Commit without expiring what the session holds, so the response renders from the rows as this
    transaction read and wrote them instead of reloading each one (a query per object): the vote's
    cards, the registration panel. Only for rows the transaction itself locked or wrote."""
    session = db.session()
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire
