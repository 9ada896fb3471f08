"""PLACEHOLDER: filled in by the hardening work (issue 9); removed if unused

Revision ID: 0012_workshop_hardening
Revises: 0011_evidence_hardening
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0012_workshop_hardening'
down_revision = '0011_evidence_hardening'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
