"""Activation tables: inventory, segments and their members, activations (deals), deliveries,
segment reports. Segments, activations and reports are job rows (``JobMixin``)."""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from beacon.core.db import Base, UTCDateTime
from beacon.core.jobs import JobMixin
from beacon.core.timefmt import utcnow

BigId = BigInteger().with_variant(Integer, "sqlite")


class InventoryUrl(Base):
    """A URL the account knows: uploaded, or seen by one of its pixels."""

    __tablename__ = "activation_inventory"
    __table_args__ = (
        UniqueConstraint("account_id", "url_hash", name="uq_activation_inventory_account_url"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    url_hash: Mapped[str] = mapped_column(String(40))  # same hash as url_classifications
    url: Mapped[str] = mapped_column(Text)
    domain: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(16))  # "upload" | "pixel"
    created_date: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InventorySync(Base):
    """How far the account's pixel rollups have been copied into its inventory."""

    __tablename__ = "activation_inventory_sync"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    last_rollup_id: Mapped[int] = mapped_column(BigInteger, default=0)


class Segment(JobMixin, Base):
    """A rule set over the account's classified inventory; building it is a job."""

    __tablename__ = "activation_segments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    rules: Mapped[str] = mapped_column(Text)  # JSON
    url_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    domain_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    top_domains: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON
    last_updated_date: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SegmentUrl(Base):
    """One member URL of a built segment."""

    __tablename__ = "activation_segment_urls"
    __table_args__ = (
        UniqueConstraint("segment_id", "url_hash", name="uq_activation_segment_urls_member"),
        Index("ix_activation_segment_urls_domain", "segment_id", "domain"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    segment_id: Mapped[int] = mapped_column(
        ForeignKey("activation_segments.id", ondelete="CASCADE")
    )
    url_hash: Mapped[str] = mapped_column(String(40))
    url: Mapped[str] = mapped_column(Text)
    domain: Mapped[str] = mapped_column(String(255))


class Activation(JobMixin, Base):
    """A request to push segments to a DSP; complete once its deal id is issued."""

    __tablename__ = "activation_activations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    segment_ids: Mapped[str] = mapped_column(Text)  # JSON, in request order
    dsp: Mapped[str] = mapped_column(String(100))
    buyer_seat: Mapped[str] = mapped_column(String(200))
    deal_id: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    ttl_hours: Mapped[int | None] = mapped_column(Integer, nullable=True)
    start_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    end_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    geo: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON
    formats: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON
    devices: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON
    kpis: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON
    budget: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON


class ActivationSegment(Base):
    """Which segments an activation includes (queried by reports and segment deletion)."""

    __tablename__ = "activation_deal_segments"

    activation_id: Mapped[int] = mapped_column(
        ForeignKey(
            "activation_activations.id",
            ondelete="CASCADE",
            name="fk_activation_deal_segments_activation",  # the default name is too long
        ),
        primary_key=True,
    )
    segment_id: Mapped[int] = mapped_column(
        ForeignKey("activation_segments.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class DeliveryBatch(Base):
    """One posted batch of delivery rows; posting the same ``batch_id`` again replaces it."""

    __tablename__ = "activation_delivery_batches"
    __table_args__ = (
        UniqueConstraint("account_id", "batch_id", name="uq_activation_delivery_batches_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    batch_id: Mapped[str] = mapped_column(String(100))
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    received_date: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Spend is stored as whole millionths of its unit (``Delivery.spend_micros``), so its sums are
# exact; deliveries, the report queries and the report service all convert with this one factor.
MICROS = 1_000_000


def to_micros(amount: float) -> int:
    """``amount`` in whole millionths, read from its shortest decimal form (``0.1`` is 100,000
    micros, not the binary float's 100,000.0000000000055...), rounded half to even."""
    return int((Decimal(repr(amount)) * MICROS).to_integral_value())


class Delivery(Base):
    """One delivery row as an SSP/DSP export reports it. Spend is kept in micro-units so sums
    are exact on every database."""

    __tablename__ = "activation_deliveries"
    __table_args__ = (
        Index("ix_activation_deliveries_deal_date", "account_id", "deal_id", "date"),
        Index("ix_activation_deliveries_batch", "batch_pk"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    batch_pk: Mapped[int] = mapped_column(
        ForeignKey("activation_delivery_batches.id", ondelete="CASCADE")
    )
    deal_id: Mapped[str] = mapped_column(String(200))
    date: Mapped[dt.date] = mapped_column(Date)
    device: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(16))
    domain: Mapped[str] = mapped_column(String(255))
    geo: Mapped[str] = mapped_column(String(2))
    impressions: Mapped[int] = mapped_column(BigInteger)
    clicks: Mapped[int] = mapped_column(BigInteger)
    spend_micros: Mapped[int] = mapped_column(BigInteger)  # millionths: spend * MICROS


class SegmentReport(JobMixin, Base):
    """A segment report request; on completion its summary and rows are a snapshot."""

    __tablename__ = "activation_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    segment_ids: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON
    requested_deal_ids: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON
    deal_ids: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON, resolved
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    filters: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON
    dimensions: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON
    row_count: Mapped[int | None] = mapped_column(Integer, nullable=True)


class SegmentReportRow(Base):
    """One row of a completed report's ``data``, numbered for paging."""

    __tablename__ = "activation_report_rows"
    __table_args__ = (
        UniqueConstraint("report_id", "position", name="uq_activation_report_rows_position"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("activation_reports.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    values: Mapped[str] = mapped_column(Text)  # JSON
