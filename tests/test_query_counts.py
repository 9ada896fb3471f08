"""No N+1 queries: list pages issue the same number of SQL statements for N and for 4N rows."""
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from kil_network.core.audit import record
from kil_network.core.email import queue_email
from kil_network.extensions import db
from kil_network.members.models import LocalAuthority

N = 5


@contextmanager
def count_queries():
    """Count the SQL statements sent through the app's engine inside the block."""
    statements = []

    def before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
        """Remember the statement."""
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", before_cursor_execute)


@pytest.fixture
def populate(make_user):
    """Add members, each with their own organisation and council, an audit entry and an email."""
    codes = db.session.scalars(sa.select(LocalAuthority.gss_code).order_by(LocalAuthority.id)).all()
    made = []

    def add(count):
        """Add `count` more members; returns all made so far."""
        for _ in range(count):
            i = len(made)
            user = make_user(email=f"many{i:03d}@example.org", name=f"Many Member {i:03d}",
                             organisation=f"Organisation {i:03d}", gss_code=codes[i * 7 % len(codes)],
                             member_type=["community_organisation", "think_tank", "academic"][i % 3])
            record(user, "member.test", user, f"Entry {i:03d}", reason=f"reason {i}")
            queue_email(user.email, f"Hello {i}", "confirm_email", user=user, user_obj=user, url="http://x")
            db.session.commit()
            made.append(user)
        return made

    return add


PAGES = [
    ("/members/", "member", "Many Member 000"),
    ("/members/?q=many", "member", "Many Member 000"),
    ("/organisations/", "member", "Organisation 000"),
    ("/staff/members/", "admin", "many000@example.org"),
    ("/staff/members/?q=organisation&status=active", "admin", "many000@example.org"),
    ("/staff/audit/", "admin", "Entry 000"),
    ("/staff/outbox/", "admin", "many000@example.org"),
]


@pytest.mark.parametrize(("url", "role", "marker"), PAGES)
def test_query_count_does_not_grow_with_rows(client, as_role, populate, url, role, marker):
    """The page costs the same number of queries with N rows as with 4N rows."""
    as_role(role)
    populate(N)
    client.get(url)  # warm up: anything loaded once per process is not counted
    with count_queries() as few:
        response = client.get(url)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert marker in html
    populate(3 * N)
    with count_queries() as many:
        response = client.get(url)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f"{4 * N - 1:03d}" in html  # the newest rows are on the page
    assert len(few) > 0
    assert len(many) == len(few), "\n".join(many)


def test_counter_sees_lazy_loads(app, populate):
    """The counter itself notices an N+1 loop (so the test above can fail)."""
    from kil_network.auth.models import User

    populate(N)
    db.session.expire_all()
    with count_queries() as statements:
        users = db.session.scalars(sa.select(User).where(User.email.like("many%"))).all()
        [u.organisation.name for u in users]
    assert len(statements) == 1 + N
