"""call for evidence, survey, written submissions, council pledges

Revision ID: 0004_evidence_pledges
Revises: 0003_principles
Create Date: 2026-11-22 03:27:27.222298

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0004_evidence_pledges'
down_revision = '0003_principles'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('introduction', sa.Text(), nullable=False),
    sa.Column('asks', sa.Text(), nullable=False),
    sa.Column('opens_at', sa.DateTime(), nullable=False),
    sa.Column('survey_closes_at', sa.DateTime(), nullable=True),
    sa.Column('written_closes_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calls'))
    )
    op.create_table('pledges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('local_authority_id', sa.Integer(), nullable=False),
    sa.Column('submitted_by_id', sa.Integer(), nullable=True),
    sa.Column('signed_by', sa.Enum('leader_and_chief_executive', 'cabinet_member_and_chief_executive', 'cabinet_decision', name='signedby', native_enum=False, length=40), nullable=False),
    sa.Column('signatories', sa.String(length=300), nullable=False),
    sa.Column('pledged_on', sa.Date(), nullable=False),
    sa.Column('champions', sa.Text(), nullable=False),
    sa.Column('statement', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'verified', 'rejected', name='pledgestatus', native_enum=False, length=16), nullable=False),
    sa.Column('review_note', sa.Text(), nullable=False),
    sa.Column('verified_by_id', sa.Integer(), nullable=True),
    sa.Column('verified_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['local_authority_id'], ['local_authorities.id'], name=op.f('fk_pledges_local_authority_id_local_authorities')),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['users.id'], name=op.f('fk_pledges_submitted_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['verified_by_id'], ['users.id'], name=op.f('fk_pledges_verified_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pledges'))
    )
    with op.batch_alter_table('pledges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pledges_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_pledges_submitted_by_id'), ['submitted_by_id'], unique=False)
        batch_op.create_index('uq_pledges_live_council', ['local_authority_id'], unique=True, postgresql_where=sa.text("status != 'rejected'"), sqlite_where=sa.text("status != 'rejected'"))

    op.create_table('submissions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('reference', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('organisation', sa.String(length=160), nullable=False),
    sa.Column('respondent_type', sa.Enum('councillor', 'commissioner', 'council_officer', 'community_organisation', 'think_tank', 'academic', 'other', name='membertype', native_enum=False, length=32), nullable=False),
    sa.Column('local_authority_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('file_name', sa.String(length=200), nullable=False),
    sa.Column('file_kind', sa.String(length=8), nullable=False),
    sa.Column('file_size', sa.Integer(), nullable=False),
    sa.Column('file_key', sa.String(length=64), nullable=False),
    sa.Column('publication', sa.Enum('named', 'anonymous', 'private', name='publication', native_enum=False, length=24), nullable=False),
    sa.Column('status', sa.Enum('new', 'reviewed', 'featured', name='reviewstatus', native_enum=False, length=24), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_submissions_call_id_calls'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['local_authority_id'], ['local_authorities.id'], name=op.f('fk_submissions_local_authority_id_local_authorities')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_submissions_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_submissions')),
    sa.UniqueConstraint('reference', name=op.f('uq_submissions_reference'))
    )
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submissions_call_id'), ['call_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_submissions_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_submissions_user_id'), ['user_id'], unique=False)

    op.create_table('survey_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reference', sa.String(length=20), nullable=True),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('respondent_type', sa.String(length=32), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_survey_responses_call_id_calls'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_survey_responses_region_id_regions')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_survey_responses_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_responses')),
    sa.UniqueConstraint('reference', name=op.f('uq_survey_responses_reference'))
    )
    with op.batch_alter_table('survey_responses', schema=None) as batch_op:
        batch_op.create_index('ix_survey_responses_call_status', ['call_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_responses_user_id'), ['user_id'], unique=False)

    op.create_table('submission_principles',
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('principle_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['principle_id'], ['principles.id'], name=op.f('fk_submission_principles_principle_id_principles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_submission_principles_submission_id_submissions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('submission_id', 'principle_id', name=op.f('pk_submission_principles'))
    )
    with op.batch_alter_table('submission_principles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submission_principles_principle_id'), ['principle_id'], unique=False)

    op.create_table('submission_tags',
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('tag', sa.String(length=60), nullable=False),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_submission_tags_submission_id_submissions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('submission_id', 'tag', name=op.f('pk_submission_tags'))
    )
    with op.batch_alter_table('submission_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submission_tags_tag'), ['tag'], unique=False)

    op.create_table('submission_topics',
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('topic', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_submission_topics_submission_id_submissions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('submission_id', 'topic', name=op.f('pk_submission_topics'))
    )
    with op.batch_alter_table('submission_topics', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submission_topics_topic'), ['topic'], unique=False)



def downgrade():
    with op.batch_alter_table('submission_topics', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submission_topics_topic'))

    op.drop_table('submission_topics')
    with op.batch_alter_table('submission_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submission_tags_tag'))

    op.drop_table('submission_tags')
    with op.batch_alter_table('submission_principles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submission_principles_principle_id'))

    op.drop_table('submission_principles')
    with op.batch_alter_table('survey_responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_responses_user_id'))
        batch_op.drop_index('ix_survey_responses_call_status')

    op.drop_table('survey_responses')
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submissions_user_id'))
        batch_op.drop_index(batch_op.f('ix_submissions_status'))
        batch_op.drop_index(batch_op.f('ix_submissions_call_id'))

    op.drop_table('submissions')
    with op.batch_alter_table('pledges', schema=None) as batch_op:
        batch_op.drop_index('uq_pledges_live_council', postgresql_where=sa.text("status != 'rejected'"), sqlite_where=sa.text("status != 'rejected'"))
        batch_op.drop_index(batch_op.f('ix_pledges_submitted_by_id'))
        batch_op.drop_index(batch_op.f('ix_pledges_status'))

    op.drop_table('pledges')
    op.drop_table('calls')
