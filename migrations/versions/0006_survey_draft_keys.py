"""visitors' survey answers kept on the server, found by a key in their session

Revision ID: 0006_survey_draft_keys
Revises: 0005_bench_indexes
Create Date: 2026-12-01 21:50:00

A visitor's answers lived in the session cookie, which browsers drop past 4 KB: two long
text answers were lost without a word. The answers now sit in an in-progress survey
response, as members' do; the cookie holds only its random key.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0006_survey_draft_keys'
down_revision = '0005_bench_indexes'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('survey_responses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('draft_key', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_survey_responses_draft_key'), ['draft_key'])


def downgrade():
    with op.batch_alter_table('survey_responses', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_survey_responses_draft_key'), type_='unique')
        batch_op.drop_column('draft_key')
