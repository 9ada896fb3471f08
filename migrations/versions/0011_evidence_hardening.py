"""written evidence: the submitter's address is confirmed before anything but a fixed-text email goes to it

Revision ID: 0011_evidence_hardening
Revises: 0010_organisation_editors

Anonymous written evidence sent an acknowledgement carrying the submitter's chosen name to any
address typed in, 30 a second: a spam relay. Now an unproven address gets only a fixed-text
"confirm your address" email; `confirmed_at` records when the link was followed (or, for a
signed-in member sending from their own confirmed address, when it was sent). Evidence sent
before this change counts as confirmed.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0011_evidence_hardening'
down_revision = '0010_organisation_editors'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirmed_at', sa.DateTime(), nullable=True))
    op.execute(sa.text("UPDATE submissions SET confirmed_at = created_at"))


def downgrade():
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_column('confirmed_at')
