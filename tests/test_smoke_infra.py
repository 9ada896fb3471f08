"""The fixtures themselves work: migrated schema, reference data, sign-in, SMTP capture."""
import sqlalchemy as sa

from kil_network.extensions import db
from kil_network.members.models import LocalAuthority, Region


def test_reference_data_loaded_by_migration(app):
    assert db.session.scalar(sa.select(sa.func.count(Region.id))) == 10
    assert db.session.scalar(sa.select(sa.func.count(LocalAuthority.id))) == 339


def test_sign_in_as_each_role(client, as_role):
    for role in ("member", "staff", "admin"):
        user = as_role(role)
        assert client.get("/account/").status_code == 200
        client.post_form("/auth/logout", token_from="/")
        assert user.email == f"{role}@example.org"
