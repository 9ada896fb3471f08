"""indexes for the directory search and the home page counts at 100,000 members (issue 6 benchmark)

Revision ID: 0005_bench_indexes
Revises: 0004_evidence_pledges
Create Date: 2026-12-01 21:30:00

ix_users_directory (status, show_in_directory, name) becomes a covering index for the directory:
the same leading columns (so the page still reads in name order) plus the columns its filters
and search test, so the page's total is counted from the index alone. ix_users_stats covers the
home page's count of active, confirmed members.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0005_bench_indexes'
down_revision = '0004_evidence_pledges'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_directory')
        batch_op.create_index('ix_users_directory_search', ['status', 'show_in_directory', 'name', 'email_confirmed_at',
                                                            'organisation_id', 'local_authority_id'], unique=False)
        batch_op.create_index('ix_users_stats', ['status', 'email_confirmed_at'], unique=False)


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_stats')
        batch_op.drop_index('ix_users_directory_search')
        batch_op.create_index('ix_users_directory', ['status', 'show_in_directory', 'name'], unique=False)
