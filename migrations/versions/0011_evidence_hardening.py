"""PLACEHOLDER: filled in by the hardening work (issue 9); removed if unused

Revision ID: 0011_evidence_hardening
Revises: 0010_organisation_editors
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0011_evidence_hardening'
down_revision = '0010_organisation_editors'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
