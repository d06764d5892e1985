"""Messaging (Orchestrate): OAuth clients, contacts, segments, templates, campaigns, executions.

Execution progress lives in ``messaging_recipients``: one durable row per (execution, contact)
whose ``stage`` advances. Every count the API reports is derived from those rows.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from beacon.core.db import Base, UTCDateTime
from beacon.core.jobs import JobMixin
from beacon.core.timefmt import utcnow

# Attributes are queried by segment rules: JSONB on PostgreSQL gives typed comparisons.
AttributesJSON = JSON().with_variant(JSONB(), "postgresql")
RecipientId = BigInteger().with_variant(Integer(), "sqlite")
PENDING_SEND = "trigger = 'send_now' AND status = 'scheduled'"


def _account_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)


class OAuthClient(Base):
    __tablename__ = "messaging_oauth_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = _account_fk()
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AccessToken(Base):
    __tablename__ = "messaging_access_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_pk: Mapped[int] = mapped_column(
        ForeignKey("messaging_oauth_clients.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    scopes: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdempotencyRecord(Base):
    __tablename__ = "messaging_idempotency_keys"
    __table_args__ = (UniqueConstraint("account_id", "key", name="uq_messaging_idempotency_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = _account_fk()
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Contact(Base):
    __tablename__ = "messaging_contacts"
    __table_args__ = (
        UniqueConstraint("account_id", "external_id", name="uq_messaging_contacts_external_id"),
        UniqueConstraint("account_id", "email", name="uq_messaging_contacts_email"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    account_id: Mapped[int] = _account_fk()
    external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    first_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    address: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(AttributesJSON, default=dict)
    email_status: Mapped[str] = mapped_column(String(20), default="subscribed")
    sms_status: Mapped[str] = mapped_column(String(20), default="subscribed")
    direct_mail_status: Mapped[str] = mapped_column(String(20), default="subscribed")
    unsubscribe_token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Segment(Base):
    __tablename__ = "messaging_segments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    account_id: Mapped[int] = _account_fk()
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # rules | static
    rules: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SegmentMember(Base):
    """Membership of a static segment."""

    __tablename__ = "messaging_segment_members"

    segment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messaging_segments.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messaging_contacts.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ReachEvaluation(JobMixin, Base):
    """A reach count job for a segment or a campaign's audience; the latest complete one wins."""

    __tablename__ = "messaging_reach_evaluations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = _account_fk()
    segment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messaging_segments.id", ondelete="CASCADE"), nullable=True, index=True
    )
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messaging_campaigns.id", ondelete="CASCADE"), nullable=True, index=True
    )
    evaluated_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Template(Base):
    __tablename__ = "messaging_templates"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    account_id: Mapped[int] = _account_fk()
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Campaign(Base):
    __tablename__ = "messaging_campaigns"
    __table_args__ = (Index("ix_messaging_campaigns_account_status", "account_id", "status"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    account_id: Mapped[int] = _account_fk()
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20))
    campaign_type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="draft")  # authoring status
    audience_included: Mapped[list[str]] = mapped_column(JSON, default=list)
    audience_excluded: Mapped[list[str]] = mapped_column(JSON, default=list)
    audience_updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    template_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messaging_templates.id", ondelete="SET NULL"), nullable=True
    )
    schedule_mode: Mapped[str] = mapped_column(String(10), default="now")
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    preflight: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Execution(Base):
    """One run of a campaign; the engine works through it in ``Batch`` jobs."""

    __tablename__ = "messaging_executions"
    __table_args__ = (
        Index("ix_messaging_executions_status_due", "status", "scheduled_for"),
        # At most one run sent now and not yet started per campaign: the database's guard
        # behind the campaign lock of POST /send (migration 0102).
        Index(
            "uq_messaging_executions_pending_send",
            "campaign_id",
            unique=True,
            postgresql_where=text(PENDING_SEND),
            sqlite_where=text(PENDING_SEND),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    account_id: Mapped[int] = _account_fk()
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messaging_campaigns.id", ondelete="CASCADE"), index=True
    )
    # scheduled | running | completed | failed | cancelled
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    trigger: Mapped[str] = mapped_column(String(20))  # send_now | schedule
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # the template content as it was when the run started: every recipient gets one version
    content: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Recipient(Base):
    """One contact in one execution; ``stage`` only moves forward (or to ``failed``)."""

    __tablename__ = "messaging_recipients"
    __table_args__ = (
        UniqueConstraint("execution_id", "contact_id", name="uq_messaging_recipients_contact"),
        Index("ix_messaging_recipients_execution_stage", "execution_id", "stage"),
    )

    id: Mapped[int] = mapped_column(RecipientId, primary_key=True, autoincrement=True)
    execution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messaging_executions.id", ondelete="CASCADE")
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messaging_contacts.id", ondelete="CASCADE")
    )
    # scheduled | hydrated | composed | injected | sent | failed
    stage: Mapped[str] = mapped_column(String(20), default="scheduled")
    # for failed rows: the stage the row failed to reach (hydrated | composed | injected | sent)
    failed_stage: Mapped[str | None] = mapped_column(String(20), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    provider_message_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class HandoverClaim(Base):
    """An address of a run that some recipient row hands a message to: at most one per
    (execution, address), inserted in the transaction that marks that row ``injected``, so
    contacts sharing an SMS number get one message per run between them."""

    __tablename__ = "messaging_handover_claims"

    execution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messaging_executions.id", ondelete="CASCADE"), primary_key=True
    )
    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    recipient_id: Mapped[int] = mapped_column(
        RecipientId, ForeignKey("messaging_recipients.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Batch(JobMixin, Base):
    """A slice of an execution's recipient rows (an id range), claimed by a worker with a lease.

    The batch is only the unit of work: what happened to each recipient lives in its row.
    """

    __tablename__ = "messaging_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    execution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messaging_executions.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(Integer)
    first_recipient_id: Mapped[int] = mapped_column(RecipientId)
    last_recipient_id: Mapped[int] = mapped_column(RecipientId)


class SchedulerLease(Base):
    """Who runs the campaign scheduler: one row per lease name, held until it expires."""

    __tablename__ = "messaging_scheduler_leases"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
