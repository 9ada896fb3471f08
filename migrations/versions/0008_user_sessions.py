"""signed-out sign-ins: signing out ends that session and its remember cookie on the server

Revision ID: 0008_user_sessions
Revises: 0007_outbox_secrets
Create Date: 2026-12-02 07:15:00

Flask-Login's id is now "<session_token>:<sign-in id>". Signing out records the sign-in id
here, so a copied session or remember-me cookie stops working; rows expire when the sign-in id
would have expired anyway (SESSION_MAX_AGE) and are pruned.

Email addresses get one normal form (kil_network/core/addresses.normalise_email: NFKC, invisible
and control characters dropped, case-folded); stored addresses are brought to it here, except
one that would then equal another account's (left as it is, and reported).
"""
import unicodedata

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0008_user_sessions'
down_revision = '0007_outbox_secrets'
branch_labels = None
depends_on = None


def _normalise_email(email):
    """A frozen copy of kil_network.core.addresses.normalise_email as of this migration."""
    invisible = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800", "\u034f", "\u180e"}
    text = unicodedata.normalize("NFKC", email or "")
    text = "".join(c for c in text if c not in invisible and not c.isspace() and unicodedata.category(c) not in
                   {"Cc", "Cf", "Co", "Cs", "Cn", "Zs", "Zl", "Zp"})
    return unicodedata.normalize("NFKC", text.casefold())


def _normalise_stored_emails():
    conn = op.get_bind()
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("email", sa.String))
    rows = conn.execute(sa.select(users.c.id, users.c.email)).all()
    taken = {email for _id, email in rows}
    for user_id, email in rows:
        normal = _normalise_email(email)
        if normal == email:
            continue
        if normal in taken:
            print(f"users.id {user_id}: email not normalised, another account has {normal!r}")
            continue
        conn.execute(sa.update(users).where(users.c.id == user_id).values(email=normal))
        taken.discard(email)
        taken.add(normal)


def upgrade():
    _normalise_stored_emails()
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
