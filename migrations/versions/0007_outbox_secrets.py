"""PLACEHOLDER: filled in by the hardening work (issue 9); removed if unused

Revision ID: 0007_outbox_secrets
Revises: 0006_survey_draft_keys
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0007_outbox_secrets'
down_revision = '0006_survey_draft_keys'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
