"""results and publications people can trust: moderation, redaction, reopening a round

Revision ID: 0013_trust
Revises: 0012_workshop_day

- `votes.comment_*` and `suggestions.moderation`, `published_*`, `hidden_reason`, `moderated_*`:
  a member's comment or suggestion is published only once staff approve it; staff may hide it
  with a reason or redact what is published (the member's own words are kept). Everything
  already there starts as pending: nobody was told it would be published.
- `submissions.published_text`, `file_may_publish`, `file_approved`, `published_at`: staff's
  redacted wording for the library, the submitter's consent and staff's approval to publish the
  attached file, and when it was published (already-published evidence gets its created time).
- `rounds.closed_at`, `results_released_at`: a round closed by mistake may be reopened within
  24 hours while its results have not left the app.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0013_trust'
down_revision = '0012_workshop_day'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('results_released_at', sa.DateTime(), nullable=True))

    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('published_text', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('file_may_publish', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('file_approved', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('published_at', sa.DateTime(), nullable=True))
    op.execute("UPDATE submissions SET published_at = created_at "
               "WHERE status IN ('reviewed', 'featured') AND publication <> 'private'")

    with op.batch_alter_table('suggestions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('moderation', sa.Enum('pending', 'approved', 'hidden', name='moderation', native_enum=False, length=16), nullable=False, server_default='pending'))
        batch_op.add_column(sa.Column('published_text', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('published_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('hidden_reason', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('moderated_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('moderated_at', sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_suggestions_moderated_by_id_users'), 'users', ['moderated_by_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('comment_status', sa.Enum('pending', 'approved', 'hidden', name='moderation', native_enum=False, length=16), nullable=False, server_default='pending'))
        batch_op.add_column(sa.Column('comment_published', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('comment_hidden_reason', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('comment_moderated_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('comment_moderated_at', sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_votes_comment_moderated_by_id_users'), 'users', ['comment_moderated_by_id'], ['id'], ondelete='SET NULL')



def downgrade():
    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_votes_comment_moderated_by_id_users'), type_='foreignkey')
        batch_op.drop_column('comment_moderated_at')
        batch_op.drop_column('comment_moderated_by_id')
        batch_op.drop_column('comment_hidden_reason')
        batch_op.drop_column('comment_published')
        batch_op.drop_column('comment_status')

    with op.batch_alter_table('suggestions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_suggestions_moderated_by_id_users'), type_='foreignkey')
        batch_op.drop_column('moderated_at')
        batch_op.drop_column('moderated_by_id')
        batch_op.drop_column('hidden_reason')
        batch_op.drop_column('published_reason')
        batch_op.drop_column('published_text')
        batch_op.drop_column('moderation')

    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_column('published_at')
        batch_op.drop_column('file_approved')
        batch_op.drop_column('file_may_publish')
        batch_op.drop_column('published_text')

    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.drop_column('results_released_at')
        batch_op.drop_column('closed_at')

