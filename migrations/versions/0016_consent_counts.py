"""consent withdrawals of deleted accounts, kept as anonymised counts

Revision ID: 0016_consent_counts
Revises: 0015_messages

- `consent_withdrawal_counts`: when a member deletes their account, their consent records are
  deleted with their other personal data; each withdrawal among them is added to the count for its
  kind, how it was withdrawn (source) and month, so the campaign keeps evidence of how consent is
  withdrawn without keeping anyone's history (members.personal_data.erase_consent_history).
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0016_consent_counts'
down_revision = '0015_messages'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('consent_withdrawal_counts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('withdrawals', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_withdrawal_counts')),
    sa.UniqueConstraint('kind', 'source', 'month', name=op.f('uq_consent_withdrawal_counts_kind'))
    )


def downgrade():
    op.drop_table('consent_withdrawal_counts')
