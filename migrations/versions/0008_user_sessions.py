"""signed-out sign-ins: signing out ends that session and its remember cookie on the server

Revision ID: 0008_user_sessions
Revises: 0007_outbox_secrets
Create Date: 2026-12-02 07:15:00

Flask-Login's id is now "<session_token>:<sign-in id>". Signing out records the sign-in id
here, so a copied session or remember-me cookie stops working; rows expire when the sign-in id
would have expired anyway (SESSION_MAX_AGE) and are pruned.
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0008_user_sessions'
down_revision = '0007_outbox_secrets'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'revoked_sign_ins',
        sa.Column('sign_in_id', sa.String(length=64), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('sign_in_id', name=op.f('pk_revoked_sign_ins')),
    )
    with op.batch_alter_table('revoked_sign_ins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_revoked_sign_ins_expires_at'), ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('revoked_sign_ins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_revoked_sign_ins_expires_at'))
    op.drop_table('revoked_sign_ins')
