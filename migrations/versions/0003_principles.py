"""principles: rounds, drafts, votes, tallies, suggestions; workshops link to rounds

Revision ID: 0003_principles
Revises: 0002_workshops
Create Date: 2026-11-22 03:15:09.752770

"""
import sqlalchemy as sa
from alembic import op

# The six principle slots. Their wording lives in each round's drafts.
PRINCIPLES = [
    (1, "The whole system"),
    (2, "Neighbourhood level"),
    (3, "Local spend"),
    (4, "Early intervention"),
    (5, "Commitment to community"),
    (6, "Simple, collaborative commissioning"),
]


# revision identifiers, used by Alembic.
revision = '0003_principles'
down_revision = '0002_workshops'
branch_labels = None
depends_on = None


def upgrade():
    principles = op.create_table('principles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('short_name', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_principles')),
    sa.UniqueConstraint('number', name=op.f('uq_principles_number'))
    )
    op.create_table('rounds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('introduction', sa.Text(), nullable=False),
    sa.Column('opens_at', sa.DateTime(), nullable=True),
    sa.Column('closes_at', sa.DateTime(), nullable=True),
    sa.Column('state', sa.Enum('draft', 'open', 'closed', name='roundstate', native_enum=False, length=16), nullable=False),
    sa.Column('eligibility', sa.Enum('members', 'attendees', name='eligibility', native_enum=False, length=16), nullable=False),
    sa.Column('adopted_at', sa.DateTime(), nullable=True),
    sa.Column('previous_round_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['previous_round_id'], ['rounds.id'], name=op.f('fk_rounds_previous_round_id_rounds'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rounds'))
    )
    op.create_table('drafts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('principle_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('what_changed', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['principle_id'], ['principles.id'], name=op.f('fk_drafts_principle_id_principles')),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'], name=op.f('fk_drafts_round_id_rounds'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drafts')),
    sa.UniqueConstraint('round_id', 'principle_id', name='uq_drafts_round_principle')
    )
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_drafts_round_id'), ['round_id'], unique=False)

    op.create_table('vote_tallies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('draft_id', sa.Integer(), nullable=False),
    sa.Column('dimension', sa.String(length=10), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('support', sa.Integer(), nullable=False),
    sa.Column('amend', sa.Integer(), nullable=False),
    sa.Column('oppose', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['draft_id'], ['drafts.id'], name=op.f('fk_vote_tallies_draft_id_drafts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vote_tallies')),
    sa.UniqueConstraint('draft_id', 'dimension', 'key', name='uq_vote_tallies_group')
    )
    op.create_table('suggestions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('draft_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('endorsement_count', sa.Integer(), nullable=False),
    sa.Column('response_status', sa.Enum('accepted', 'partly', 'not_taken', name='responsestatus', native_enum=False, length=16), nullable=True),
    sa.Column('response_text', sa.Text(), nullable=False),
    sa.Column('responded_by_id', sa.Integer(), nullable=True),
    sa.Column('responded_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['draft_id'], ['drafts.id'], name=op.f('fk_suggestions_draft_id_drafts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['responded_by_id'], ['users.id'], name=op.f('fk_suggestions_responded_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_suggestions_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suggestions'))
    )
    with op.batch_alter_table('suggestions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_suggestions_draft_id'), ['draft_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_suggestions_user_id'), ['user_id'], unique=False)

    op.create_table('endorsements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('suggestion_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['suggestion_id'], ['suggestions.id'], name=op.f('fk_endorsements_suggestion_id_suggestions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_endorsements_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_endorsements')),
    sa.UniqueConstraint('suggestion_id', 'user_id', name='uq_endorsements_suggestion_user')
    )
    with op.batch_alter_table('endorsements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_endorsements_user_id'), ['user_id'], unique=False)

    op.create_table('votes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('draft_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('stance', sa.Enum('support', 'amend', 'oppose', name='stance', native_enum=False, length=16), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('workshop_id', sa.Integer(), nullable=True),
    sa.Column('member_type', sa.Enum('councillor', 'commissioner', 'council_officer', 'community_organisation', 'think_tank', 'academic', 'other', name='membertype', native_enum=False, length=32), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['draft_id'], ['drafts.id'], name=op.f('fk_votes_draft_id_drafts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_votes_region_id_regions')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_votes_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workshop_id'], ['workshops.id'], name=op.f('fk_votes_workshop_id_workshops'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_votes')),
    sa.UniqueConstraint('draft_id', 'user_id', name='uq_votes_draft_user')
    )
    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.create_index('ix_votes_draft_stance', ['draft_id', 'stance'], unique=False)
        batch_op.create_index(batch_op.f('ix_votes_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_votes_workshop_id'), ['workshop_id'], unique=False)

    with op.batch_alter_table('workshops', schema=None) as batch_op:
        batch_op.add_column(sa.Column('round_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('live_voting', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index(batch_op.f('ix_workshops_round_id'), ['round_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_workshops_round_id_rounds'), 'rounds', ['round_id'], ['id'], ondelete='SET NULL')
        batch_op.drop_column('principles_round')

    op.bulk_insert(principles, [{"id": n, "number": n, "short_name": name} for n, name in PRINCIPLES])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval('principles_id_seq', (SELECT MAX(id) FROM principles))")



def downgrade():
    with op.batch_alter_table('workshops', schema=None) as batch_op:
        batch_op.add_column(sa.Column('principles_round', sa.VARCHAR(length=160), nullable=False, server_default=''))
        batch_op.drop_constraint(batch_op.f('fk_workshops_round_id_rounds'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_workshops_round_id'))
        batch_op.drop_column('live_voting')
        batch_op.drop_column('round_id')

    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_votes_workshop_id'))
        batch_op.drop_index(batch_op.f('ix_votes_user_id'))
        batch_op.drop_index('ix_votes_draft_stance')

    op.drop_table('votes')
    with op.batch_alter_table('endorsements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_endorsements_user_id'))

    op.drop_table('endorsements')
    with op.batch_alter_table('suggestions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_suggestions_user_id'))
        batch_op.drop_index(batch_op.f('ix_suggestions_draft_id'))

    op.drop_table('suggestions')
    op.drop_table('vote_tallies')
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_drafts_round_id'))

    op.drop_table('drafts')
    op.drop_table('rounds')
    op.drop_table('principles')
