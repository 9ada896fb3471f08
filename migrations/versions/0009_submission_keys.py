"""one-time submission keys: a create form posted twice creates one thing (issue 9, finding 13)

Revision ID: 0009_submission_keys
Revises: 0008_user_sessions
Create Date: 2026-12-02 07:30:00

A create form carries a random key; the first post that saves stores it here with where its
result is, so a repeat post (a double click, two identical posts at once) is sent there
instead of creating a second row. The primary key is the unique constraint that decides a race.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0009_submission_keys'
down_revision = '0008_user_sessions'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'submission_keys',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('endpoint', sa.String(length=100), nullable=False),
        sa.Column('result_url', sa.String(length=500), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_submission_keys')),
    )
    with op.batch_alter_table('submission_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submission_keys_created_at'), ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('submission_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submission_keys_created_at'))
    op.drop_table('submission_keys')
