"""indexes for the read pages at full scale (issue 14): approved vote comments, the evidence library

Revision ID: 0019_read_indexes
Revises: 0018_member_search

ix_votes_comment_status_draft: the results page lists a round's approved comments; without it
every vote of the round was read (74 ms on SQLite, 70 ms on PostgreSQL at 1,000,000 votes, to
find none). ix_submissions_library (status, publication, id): the library's published rows and
their order come from the index, so the long texts are read only for the page shown.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0019_read_indexes'
down_revision = '0018_member_search'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_votes_comment_status_draft', 'votes', ['comment_status', 'draft_id'], unique=False)
    op.create_index('ix_submissions_library', 'submissions', ['status', 'publication', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_submissions_library', table_name='submissions')
    op.drop_index('ix_votes_comment_status_draft', table_name='votes')
