"""Messaging (Orchestrate): OAuth clients and tokens, idempotency keys, contacts, segments,
reach evaluations, templates, campaigns, executions and per-recipient pipeline rows.

Revision ID: 0100_messaging
Revises: 0002_pixel_campaigns
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from beacon.core.db import UTCDateTime

revision = "0100_messaging"
down_revision = "0002_pixel_campaigns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "messaging_contacts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("first_name", sa.String(length=200), nullable=True),
        sa.Column("last_name", sa.String(length=200), nullable=True),
        sa.Column("address", sa.JSON(), nullable=True),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("email_status", sa.String(length=20), nullable=False),
        sa.Column("sms_status", sa.String(length=20), nullable=False),
        sa.Column("direct_mail_status", sa.String(length=20), nullable=False),
        sa.Column("unsubscribe_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_messaging_contacts_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messaging_contacts")),
        sa.UniqueConstraint("account_id", "email", name="uq_messaging_contacts_email"),
        sa.UniqueConstraint("account_id", "external_id", name="uq_messaging_contacts_external_id"),
        sa.UniqueConstraint(
            "unsubscribe_token", name=op.f("uq_messaging_contacts_unsubscribe_token")
        ),
    )
    op.create_index(
        op.f("ix_messaging_contacts_account_id"), "messaging_contacts", ["account_id"], unique=False
    )
    op.create_index(
        op.f("ix_messaging_contacts_updated_at"), "messaging_contacts", ["updated_at"], unique=False
    )
    op.create_table(
        "messaging_idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_messaging_idempotency_keys_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messaging_idempotency_keys")),
        sa.UniqueConstraint("account_id", "key", name="uq_messaging_idempotency_key"),
    )
    op.create_index(
        op.f("ix_messaging_idempotency_keys_account_id"),
        "messaging_idempotency_keys",
        ["account_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_messaging_idempotency_keys_created_at"),
        "messaging_idempotency_keys",
        ["created_at"],
        unique=False,
    )
    op.create_table(
        "messaging_oauth_clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=128), nullable=False),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_messaging_oauth_clients_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messaging_oauth_clients")),
        sa.UniqueConstraint("client_id", name=op.f("uq_messaging_oauth_clients_client_id")),
    )
    op.create_index(
        op.f("ix_messaging_oauth_clients_account_id"),
        "messaging_oauth_clients",
        ["account_id"],
        unique=False,
    )
    op.create_table(
        "messaging_segments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_messaging_segments_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messaging_segments")),
    )
    op.create_index(
        op.f("ix_messaging_segments_account_id"), "messaging_segments", ["account_id"], unique=False
    )
    op.create_table(
        "messaging_templates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_messaging_templates_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messaging_templates")),
    )
    op.create_index(
        op.f("ix_messaging_templates_account_id"),
        "messaging_templates",
        ["account_id"],
        unique=False,
    )
    op.create_table(
        "messaging_access_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_pk", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_pk"],
            ["messaging_oauth_clients.id"],
            name=op.f("fk_messaging_access_tokens_client_pk_messaging_oauth_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messaging_access_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_messaging_access_tokens_token_hash")),
    )
    op.create_index(
        op.f("ix_messaging_access_tokens_client_pk"),
        "messaging_access_tokens",
        ["client_pk"],
        unique=False,
    )
    op.create_table(
        "messaging_campaigns",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("campaign_type", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("audience_included", sa.JSON(), nullable=False),
        sa.Column("audience_excluded", sa.JSON(), nullable=False),
        sa.Column("audience_updated_at", UTCDateTime(), nullable=False),
        sa.Column("template_id", sa.Uuid(), nullable=True),
        sa.Column("schedule_mode", sa.String(length=10), nullable=False),
        sa.Column("send_at", UTCDateTime(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("schedule_id", sa.Uuid(), nullable=True),
        sa.Column("preflight", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("archived_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_messaging_campaigns_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["messaging_templates.id"],
            name=op.f("fk_messaging_campaigns_template_id_messaging_templates"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messaging_campaigns")),
    )
    op.create_index(
        op.f("ix_messaging_campaigns_account_id"),
        "messaging_campaigns",
        ["account_id"],
        unique=False,
    )
    op.create_index(
        "ix_messaging_campaigns_account_status",
        "messaging_campaigns",
        ["account_id", "status"],
        unique=False,
    )
    op.create_table(
        "messaging_segment_members",
        sa.Column("segment_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["messaging_contacts.id"],
            name=op.f("fk_messaging_segment_members_contact_id_messaging_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["messaging_segments.id"],
            name=op.f("fk_messaging_segment_members_segment_id_messaging_segments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "segment_id", "contact_id", name=op.f("pk_messaging_segment_members")
        ),
    )
    op.create_index(
        op.f("ix_messaging_segment_members_contact_id"),
        "messaging_segment_members",
        ["contact_id"],
        unique=False,
    )
    op.create_table(
        "messaging_executions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("schedule_id", sa.Uuid(), nullable=True),
        sa.Column("scheduled_for", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("cancel_requested_at", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_messaging_executions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["messaging_campaigns.id"],
            name=op.f("fk_messaging_executions_campaign_id_messaging_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messaging_executions")),
    )
    op.create_index(
        op.f("ix_messaging_executions_account_id"),
        "messaging_executions",
        ["account_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_messaging_executions_campaign_id"),
        "messaging_executions",
        ["campaign_id"],
        unique=False,
    )
    op.create_index(
        "ix_messaging_executions_status_due",
        "messaging_executions",
        ["status", "scheduled_for"],
        unique=False,
    )
    op.create_table(
        "messaging_reach_evaluations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Uuid(), nullable=True),
        sa.Column("campaign_id", sa.Uuid(), nullable=True),
        sa.Column("evaluated_count", sa.Integer(), nullable=True),
        sa.Column("evaluated_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("run_after", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_date", UTCDateTime(), nullable=False),
        sa.Column("processed_date", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_messaging_reach_evaluations_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["messaging_campaigns.id"],
            name=op.f("fk_messaging_reach_evaluations_campaign_id_messaging_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["messaging_segments.id"],
            name=op.f("fk_messaging_reach_evaluations_segment_id_messaging_segments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messaging_reach_evaluations")),
    )
    op.create_index(
        op.f("ix_messaging_reach_evaluations_account_id"),
        "messaging_reach_evaluations",
        ["account_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_messaging_reach_evaluations_campaign_id"),
        "messaging_reach_evaluations",
        ["campaign_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_messaging_reach_evaluations_segment_id"),
        "messaging_reach_evaluations",
        ["segment_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_messaging_reach_evaluations_status"),
        "messaging_reach_evaluations",
        ["status"],
        unique=False,
    )
    op.create_table(
        "messaging_recipients",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("execution_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("failed_stage", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("provider_message_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["messaging_contacts.id"],
            name=op.f("fk_messaging_recipients_contact_id_messaging_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["messaging_executions.id"],
            name=op.f("fk_messaging_recipients_execution_id_messaging_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messaging_recipients")),
        sa.UniqueConstraint("execution_id", "contact_id", name="uq_messaging_recipients_contact"),
    )
    op.create_index(
        "ix_messaging_recipients_execution_stage",
        "messaging_recipients",
        ["execution_id", "stage"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("messaging_recipients")
    op.drop_table("messaging_reach_evaluations")
    op.drop_table("messaging_executions")
    op.drop_table("messaging_segment_members")
    op.drop_table("messaging_campaigns")
    op.drop_table("messaging_access_tokens")
    op.drop_table("messaging_templates")
    op.drop_table("messaging_segments")
    op.drop_table("messaging_oauth_clients")
    op.drop_table("messaging_idempotency_keys")
    op.drop_table("messaging_contacts")
