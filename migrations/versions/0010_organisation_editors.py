"""organisation editors: who may edit an organisation's record (issue 9, finding 5)

Existing data: the earliest active, confirmed member of each organisation becomes its editor
(the nearest thing to "the member who created the record"); organisations with no such
member have no editor until staff appoint one or approve a member's request.

Revision ID: 0010_organisation_editors
Revises: 0009_submission_keys
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0010_organisation_editors'
down_revision = '0009_submission_keys'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('organisation_editors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requested_at', sa.DateTime(), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_organisation_editors_organisation_id_organisations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_organisation_editors_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_organisation_editors_decided_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisation_editors')),
    sa.UniqueConstraint('organisation_id', 'user_id', name='uq_organisation_editors_org_user')
    )
    with op.batch_alter_table('organisation_editors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organisation_editors_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_organisation_editors_user_id'), ['user_id'], unique=False)

    op.execute(sa.text("""
        INSERT INTO organisation_editors (organisation_id, user_id, status, requested_at, decided_at)
        SELECT u.organisation_id, u.id, 'approved', u.created_at, u.created_at
        FROM users u
        WHERE u.organisation_id IS NOT NULL AND u.status = 'active' AND u.email_confirmed_at IS NOT NULL
          AND NOT EXISTS (
            SELECT 1 FROM users v
            WHERE v.organisation_id = u.organisation_id AND v.status = 'active'
              AND v.email_confirmed_at IS NOT NULL
              AND (v.created_at < u.created_at OR (v.created_at = u.created_at AND v.id < u.id)))
    """))


def downgrade():
    with op.batch_alter_table('organisation_editors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organisation_editors_user_id'))
        batch_op.drop_index(batch_op.f('ix_organisation_editors_organisation_id'))
    op.drop_table('organisation_editors')
