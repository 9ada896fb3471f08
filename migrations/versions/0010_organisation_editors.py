"""PLACEHOLDER: filled in by the hardening work (issue 9); removed if unused

Revision ID: 0010_organisation_editors
Revises: 0009_submission_keys
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0010_organisation_editors'
down_revision = '0009_submission_keys'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
