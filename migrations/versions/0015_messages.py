"""member communications: staff messages, notification preferences, undeliverable addresses

Revision ID: 0015_messages
Revises: 0014_evidence_search

- `messages`: a staff message (campaign or service) with its Markdown body, its audience's filters,
  its schedule and sending counts; each recipient's copy is an outbox row with `message_id`.
- `outbox_emails.headers`: extra headers (List-Unsubscribe, List-Unsubscribe-Post on campaign email).
- `notification_preferences`: a member's choice per optional kind of notification (no row: default).
- `users.email_bounce_count`, `email_undeliverable_at`: permanent SMTP refusals of the address in a
  row, and when it was marked undeliverable (campaign sends skip it; staff see it).
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0015_messages'
down_revision = '0014_evidence_search'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('kind', sa.Enum('campaign', 'service', name='messagekind', native_enum=False, length=16), nullable=False),
    sa.Column('audience', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'scheduled', 'sending', 'sent', 'cancelled', name='messagestatus', native_enum=False, length=16), nullable=False),
    sa.Column('scheduled_at', sa.DateTime(), nullable=True),
    sa.Column('queued_at', sa.DateTime(), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('recipient_count', sa.Integer(), nullable=False),
    sa.Column('excluded_count', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_messages_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_status_scheduled', ['status', 'scheduled_at'], unique=False)

    op.create_table('notification_preferences',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notification_preferences_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'kind', name=op.f('pk_notification_preferences'))
    )
    with op.batch_alter_table('outbox_emails', schema=None) as batch_op:
        batch_op.add_column(sa.Column('headers', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('message_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_emails_message_id'), ['message_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_outbox_emails_message_id_messages'), 'messages', ['message_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_bounce_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('email_undeliverable_at', sa.DateTime(), nullable=True))



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email_undeliverable_at')
        batch_op.drop_column('email_bounce_count')

    with op.batch_alter_table('outbox_emails', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_outbox_emails_message_id_messages'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_outbox_emails_message_id'))
        batch_op.drop_column('message_id')
        batch_op.drop_column('headers')

    op.drop_table('notification_preferences')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_status_scheduled')

    op.drop_table('messages')
