"""workshops, registrations, calendar feed

Revision ID: 0002_workshops
Revises: 0001_foundation
Create Date: 2026-11-22 02:57:50.570290

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0002_workshops'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('workshops',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=160), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=True),
    sa.Column('format', sa.Enum('in_person', 'online', 'hybrid', name='workshopformat', native_enum=False, length=16), nullable=False),
    sa.Column('venue', sa.String(length=160), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('postcode', sa.String(length=10), nullable=False),
    sa.Column('online_url', sa.String(length=500), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('registration_closes_at', sa.DateTime(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('accessibility_info', sa.Text(), nullable=False),
    sa.Column('mix_max_percent', sa.Integer(), nullable=True),
    sa.Column('principles_round', sa.String(length=160), nullable=False),
    sa.Column('status', sa.Enum('draft', 'published', 'cancelled', name='workshopstatus', native_enum=False, length=16), nullable=False),
    sa.Column('cancel_reason', sa.Text(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('seat_version', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('published_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('capacity >= 0', name=op.f('ck_workshops_capacity_not_negative')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_workshops_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_workshops_region_id_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workshops'))
    )
    with op.batch_alter_table('workshops', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workshops_region_id'), ['region_id'], unique=False)
        batch_op.create_index('ix_workshops_status_starts_at', ['status', 'starts_at'], unique=False)

    op.create_table('registrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workshop_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('guest_name', sa.String(length=120), nullable=False),
    sa.Column('guest_email', sa.String(length=320), nullable=False),
    sa.Column('member_type', sa.Enum('councillor', 'commissioner', 'council_officer', 'community_organisation', 'think_tank', 'academic', 'other', name='membertype', native_enum=False, length=32), nullable=False),
    sa.Column('state', sa.Enum('confirmed', 'waitlisted', 'cancelled', name='registrationstate', native_enum=False, length=16), nullable=False),
    sa.Column('queued_at', sa.DateTime(), nullable=False),
    sa.Column('access_needs', sa.Text(), nullable=False),
    sa.Column('checked_in_at', sa.DateTime(), nullable=True),
    sa.Column('checked_in_by_id', sa.Integer(), nullable=True),
    sa.Column('walk_in', sa.Boolean(), nullable=False),
    sa.Column('reminder_sent_at', sa.DateTime(), nullable=True),
    sa.Column('check_in_code', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['checked_in_by_id'], ['users.id'], name=op.f('fk_registrations_checked_in_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_registrations_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workshop_id'], ['workshops.id'], name=op.f('fk_registrations_workshop_id_workshops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registrations')),
    sa.UniqueConstraint('check_in_code', name=op.f('uq_registrations_check_in_code')),
    sa.UniqueConstraint('workshop_id', 'user_id', name='uq_registrations_workshop_user')
    )
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registrations_user_id'), ['user_id'], unique=False)
        batch_op.create_index('ix_registrations_workshop_state', ['workshop_id', 'state', 'queued_at'], unique=False)

    op.create_table('registration_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=30), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=True),
    sa.Column('to_state', sa.String(length=16), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_registration_events_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_registration_events_registration_id_registrations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_events'))
    )
    with op.batch_alter_table('registration_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registration_events_registration_id'), ['registration_id'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('calendar_token', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_users_calendar_token'), ['calendar_token'])



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_users_calendar_token'), type_='unique')
        batch_op.drop_column('calendar_token')

    with op.batch_alter_table('registration_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registration_events_registration_id'))

    op.drop_table('registration_events')
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_index('ix_registrations_workshop_state')
        batch_op.drop_index(batch_op.f('ix_registrations_user_id'))

    op.drop_table('registrations')
    with op.batch_alter_table('workshops', schema=None) as batch_op:
        batch_op.drop_index('ix_workshops_status_starts_at')
        batch_op.drop_index(batch_op.f('ix_workshops_region_id'))

    op.drop_table('workshops')
