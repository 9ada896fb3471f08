"""outbox: secret emails (bodies never shown) and a stable Message-ID per email

Revision ID: 0007_outbox_secrets
Revises: 0006_survey_draft_keys
Create Date: 2026-12-02 07:40:00

Issue 9, findings 3 and 10. `secret` marks emails holding a sign-in, confirmation or reset
link: the staff outbox page never shows their bodies (staff could otherwise take over any
account, an admin's too). Rows already queued are marked by their kind. `message_token` is a
random value per row; with the row id it gives every try of an email the same Message-ID, so a
receiver can drop a resend. Rows queued before this have none and use the id alone.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0007_outbox_secrets'
down_revision = '0006_survey_draft_keys'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_emails', schema=None) as batch_op:
        batch_op.add_column(sa.Column('secret', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('message_token', sa.String(length=32), nullable=True))
    op.execute("UPDATE outbox_emails SET secret = true WHERE kind IN ('confirm', 'reset')")


def downgrade():
    with op.batch_alter_table('outbox_emails', schema=None) as batch_op:
        batch_op.drop_column('message_token')
        batch_op.drop_column('secret')
