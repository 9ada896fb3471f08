"""PLACEHOLDER: filled in by the hardening work (issue 9); removed if unused

Revision ID: 0009_submission_keys
Revises: 0008_user_sessions
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0009_submission_keys'
down_revision = '0008_user_sessions'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
