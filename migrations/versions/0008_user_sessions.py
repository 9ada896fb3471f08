"""PLACEHOLDER: filled in by the hardening work (issue 9); removed if unused

Revision ID: 0008_user_sessions
Revises: 0007_outbox_secrets
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0008_user_sessions'
down_revision = '0007_outbox_secrets'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
