"""The classification store: one row per normalised URL, shared by every account.

A page's classification does not depend on who asks, so rows are global (no account id);
what an account may see is decided by the URLs it already knows (its pixels, its inventory).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from beacon.core.db import Base, UTCDateTime
from beacon.core.jobs import JobMixin
from beacon.core.timefmt import utcnow

OK, ERROR, PENDING = "ok", "error", "pending"
# Outcomes of one URL in a batch, as the API names them (and the summary counts them).
ITEM_PENDING, ITEM_CLASSIFIED, ITEM_FAILED = "pending", "classified", "failed"


class UrlClassification(Base):
    __tablename__ = "url_classifications"
    __table_args__ = (
        Index("ix_url_classifications_domain", "domain"),
        Index("ix_url_classifications_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url_hash: Mapped[str] = mapped_column(String(40), unique=True)
    url: Mapped[str] = mapped_column(Text)
    domain: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    classification: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON wire form
    # What extraction read from the page with that classification (not on the /v1 wire).
    title: Mapped[str | None] = mapped_column(Text, nullable=True)
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    engine_version: Mapped[str | None] = mapped_column(String(40), nullable=True)
    classified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When the current run of consecutive failures began (None while ``attempts`` is 0): a
    # transient failure is retried until the run has lasted the retry window.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When the last failed fetch was recorded: an API request fetches a URL the worker gave up
    # again only ``classification_given_up_retry_seconds`` after it.
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ClassificationBatch(JobMixin, Base):
    """A batch classification request: a job row the worker claims, polled by the client."""

    __tablename__ = "classification_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    url_count: Mapped[int] = mapped_column(Integer, default=0)


class ClassificationBatchItem(Base):
    """One URL of a batch and its outcome; the batch summary is counted from these rows."""

    __tablename__ = "classification_batch_items"
    __table_args__ = (
        UniqueConstraint("batch_id", "position", name="uq_classification_batch_items_position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(
        ForeignKey("classification_batches.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=ITEM_PENDING)
    classification: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON wire form
    classified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class HeldSite(Base):
    """A site (origin) that asked to be left alone (a 429 or 503) until ``held_until``, as
    every process of the installation reads it: the fetcher's own holds live in a process's
    memory (``fetch._OriginHolds``), and a standalone worker, the server and a restarted
    process learn each other's from here (``service.classify_pages``)."""

    __tablename__ = "contextual_site_holds"
    __table_args__ = (Index("ix_contextual_site_holds_held_until", "held_until"),)

    origin: Mapped[str] = mapped_column(Text, primary_key=True)  # scheme://host[:port]
    held_until: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)  # what its pages fail with meanwhile


class ContextualCursor(Base):
    """How far a background scan has read a growing table (e.g. ``pixel_rollups`` ids)."""

    __tablename__ = "contextual_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
