"""the workshop day: one-time sign-in codes, how each check-in was made, the presenter screen's state

Revision ID: 0012_workshop_day
Revises: 0011_evidence_hardening

- `sign_in_codes`: a six-digit code and a link, emailed, valid 15 minutes and used once, for signing
  in (or confirming a new member) from the workshop's live page without a password; only hashes kept.
- `registrations.check_in_method`: staff, scan, room_code (self check-in), walk_in or offline;
  NULL for check-ins made before this (all of them by staff).
- `workshops.present_number`, `tallies_shown`, `present_version`: what the presenter screen shows
  (one principle or all; tallies hidden until revealed) and a version its poll compares.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0012_workshop_day'
down_revision = '0011_evidence_hardening'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sign_in_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('code_hash', sa.String(length=128), nullable=False),
    sa.Column('link_hash', sa.String(length=128), nullable=False),
    sa.Column('workshop_id', sa.Integer(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_sign_in_codes_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workshop_id'], ['workshops.id'], name=op.f('fk_sign_in_codes_workshop_id_workshops'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_codes')),
    sa.UniqueConstraint('link_hash', name=op.f('uq_sign_in_codes_link_hash'))
    )
    with op.batch_alter_table('sign_in_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_codes_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('check_in_method', sa.String(length=16), nullable=True))

    with op.batch_alter_table('workshops', schema=None) as batch_op:
        batch_op.add_column(sa.Column('present_number', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('tallies_shown', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('present_version', sa.Integer(), nullable=False, server_default='0'))



def downgrade():
    with op.batch_alter_table('workshops', schema=None) as batch_op:
        batch_op.drop_column('present_version')
        batch_op.drop_column('tallies_shown')
        batch_op.drop_column('present_number')

    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_column('check_in_method')

    with op.batch_alter_table('sign_in_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_codes_user_id'))

    op.drop_table('sign_in_codes')
