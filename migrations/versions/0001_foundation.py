"""foundation: members, organisations, councils, audit log, outbox

Also loads the reference data shipped in kil_network/data: the nine English regions and
Wales, and the 339 principal local authorities (ONS, Open Government Licence v3.0).

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-22 02:46:03.302799

"""
import csv
from pathlib import Path

import sqlalchemy as sa
from alembic import op

DATA_DIR = Path(__file__).resolve().parents[2] / "kil_network" / "data"


def _rows(name):
    """Rows of a shipped CSV file as dicts."""
    with open(DATA_DIR / name, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def load_reference_data(regions, local_authorities):
    """Insert the regions and local authorities from the shipped CSV files."""
    region_rows = _rows("regions.csv")
    op.bulk_insert(regions, [
        {"id": i, "code": r["code"], "name": r["name"], "itl1_code": r["itl1_code"]}
        for i, r in enumerate(region_rows, start=1)
    ])
    region_ids = {r["code"]: i for i, r in enumerate(region_rows, start=1)}
    op.bulk_insert(local_authorities, [
        {"id": i, "gss_code": r["gss_code"], "name": r["name"], "tier": r["tier"],
         "region_id": region_ids[r["region_code"]]}
        for i, r in enumerate(_rows("local_authorities.csv"), start=1)
    ])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval('regions_id_seq', (SELECT MAX(id) FROM regions))")
        op.execute("SELECT setval('local_authorities_id_seq', (SELECT MAX(id) FROM local_authorities))")


# revision identifiers, used by Alembic.
revision = '0001_foundation'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    regions = op.create_table('regions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=9), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('itl1_code', sa.String(length=3), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_regions')),
    sa.UniqueConstraint('code', name=op.f('uq_regions_code')),
    sa.UniqueConstraint('name', name=op.f('uq_regions_name'))
    )
    local_authorities = op.create_table('local_authorities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('gss_code', sa.String(length=9), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('tier', sa.String(length=30), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_local_authorities_region_id_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_local_authorities')),
    sa.UniqueConstraint('gss_code', name=op.f('uq_local_authorities_gss_code'))
    )
    with op.batch_alter_table('local_authorities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_local_authorities_name'), ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_local_authorities_region_id'), ['region_id'], unique=False)

    op.create_table('organisations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=160), nullable=False),
    sa.Column('name_key', sa.String(length=160), nullable=False),
    sa.Column('org_type', sa.String(length=40), nullable=False),
    sa.Column('charity_number', sa.String(length=20), nullable=False),
    sa.Column('company_number', sa.String(length=20), nullable=False),
    sa.Column('local_authority_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['local_authority_id'], ['local_authorities.id'], name=op.f('fk_organisations_local_authority_id_local_authorities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisations')),
    sa.UniqueConstraint('name_key', name=op.f('uq_organisations_name_key'))
    )
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organisations_local_authority_id'), ['local_authority_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('member_type', sa.Enum('councillor', 'commissioner', 'council_officer', 'community_organisation', 'think_tank', 'academic', 'other', name='membertype', native_enum=False, length=32), nullable=False),
    sa.Column('role', sa.Enum('member', 'staff', 'admin', name='role', native_enum=False, length=16), nullable=False),
    sa.Column('status', sa.Enum('active', 'suspended', 'deleted', name='status', native_enum=False, length=16), nullable=False),
    sa.Column('job_title', sa.String(length=120), nullable=False),
    sa.Column('involvement', sa.Text(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=True),
    sa.Column('local_authority_id', sa.Integer(), nullable=True),
    sa.Column('region_id', sa.Integer(), nullable=True),
    sa.Column('email_confirmed_at', sa.DateTime(), nullable=True),
    sa.Column('pending_email', sa.String(length=320), nullable=True),
    sa.Column('consent_privacy_at', sa.DateTime(), nullable=True),
    sa.Column('consent_marketing', sa.Boolean(), nullable=False),
    sa.Column('show_in_directory', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_login_at', sa.DateTime(), nullable=True),
    sa.Column('deleted_at', sa.DateTime(), nullable=True),
    sa.Column('session_token', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['local_authority_id'], ['local_authorities.id'], name=op.f('fk_users_local_authority_id_local_authorities')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_users_organisation_id_organisations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_users_region_id_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email')),
    sa.UniqueConstraint('session_token', name=op.f('uq_users_session_token'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index('ix_users_directory', ['status', 'show_in_directory', 'name'], unique=False)
        batch_op.create_index(batch_op.f('ix_users_local_authority_id'), ['local_authority_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_users_member_type'), ['member_type'], unique=False)
        batch_op.create_index(batch_op.f('ix_users_name'), ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_users_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_users_region_id'), ['region_id'], unique=False)

    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target_type', sa.String(length=40), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=True),
    sa.Column('summary', sa.String(length=500), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_log_actor_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_actor_id'), ['actor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_created_at'), ['created_at'], unique=False)

    op.create_table('consent_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('granted', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_consent_records_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_records'))
    )
    with op.batch_alter_table('consent_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_records_user_id'), ['user_id'], unique=False)

    op.create_table('outbox_emails',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('to_address', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body_text', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=True),
    sa.Column('attachments', sa.JSON(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('last_error', sa.String(length=1000), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_outbox_emails_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_emails'))
    )
    with op.batch_alter_table('outbox_emails', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_emails_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_emails_user_id'), ['user_id'], unique=False)

    load_reference_data(regions, local_authorities)


def downgrade():
    with op.batch_alter_table('outbox_emails', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_emails_user_id'))
        batch_op.drop_index('ix_outbox_emails_due')

    op.drop_table('outbox_emails')
    with op.batch_alter_table('consent_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_records_user_id'))

    op.drop_table('consent_records')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_created_at'))
        batch_op.drop_index(batch_op.f('ix_audit_log_actor_id'))
        batch_op.drop_index(batch_op.f('ix_audit_log_action'))

    op.drop_table('audit_log')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_region_id'))
        batch_op.drop_index(batch_op.f('ix_users_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_users_name'))
        batch_op.drop_index(batch_op.f('ix_users_member_type'))
        batch_op.drop_index(batch_op.f('ix_users_local_authority_id'))
        batch_op.drop_index('ix_users_directory')

    op.drop_table('users')
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organisations_local_authority_id'))

    op.drop_table('organisations')
    with op.batch_alter_table('local_authorities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_local_authorities_region_id'))
        batch_op.drop_index(batch_op.f('ix_local_authorities_name'))

    op.drop_table('local_authorities')
    op.drop_table('regions')
