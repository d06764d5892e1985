"""Pixel campaigns: the tracking configurations pixel hits and reports hang off."""

from __future__ import annotations

import datetime as dt
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from beacon.core.db import Base, UTCDateTime
from beacon.core.timefmt import utcnow


class PixelCampaign(Base):
    __tablename__ = "pixel_campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    use_case: Mapped[str] = mapped_column(String(40))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_date: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_updated_date: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PixelRollup(Base):
    """Hit counts per campaign, day and combination of dimensions: what reports aggregate.

    Written only as batched atomic increments (``hits = hits + n`` upserts) keyed by
    ``dims_hash``, so any number of collector processes can share one database. Unknown
    dimension values are stored as ``''`` (not NULL) so the key stays unique.
    """

    __tablename__ = "pixel_rollups"
    __table_args__ = (
        UniqueConstraint("campaign_id", "dims_hash", name="uq_pixel_rollups_campaign_dims"),
        Index("ix_pixel_rollups_campaign_date", "campaign_id", "date"),
        Index(
            "ix_pixel_rollups_invalid",
            "campaign_id",
            "date",
            postgresql_where=text("traffic_type <> 'human'"),
            sqlite_where=text("traffic_type <> 'human'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("pixel_campaigns.id", ondelete="CASCADE"))
    date: Mapped[dt.date] = mapped_column(Date)
    dims_hash: Mapped[str] = mapped_column(String(40))
    domain: Mapped[str] = mapped_column(String(255), default="")
    url: Mapped[str] = mapped_column(Text, default="")
    device: Mapped[str] = mapped_column(String(16), default="")
    geo: Mapped[str] = mapped_column(String(2), default="")
    traffic_type: Mapped[str] = mapped_column(String(16), default="human")
    agent: Mapped[str] = mapped_column(String(100), default="")
    macros: Mapped[str] = mapped_column(Text, default="")
    misrepresented: Mapped[bool] = mapped_column(Boolean, default=False)
    # Why a non-human hit is invalid (`agents.IVT_REASONS`); '' for human hits and for
    # invalid hits counted before reasons existed (reports derive theirs, see reports/aggregation_repository).
    ivt_reason: Mapped[str] = mapped_column(String(16), server_default="")
    hits: Mapped[int] = mapped_column(BigInteger, default=0)
    # When the flusher last added hits to this row (the console's live tag test reads it).
    last_hit_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class _CoarseRollup:
    """Columns shared by the report-grain rollups: sums of `pixel_rollups` over fewer dimensions.

    Each is maintained by the same flush and the same kind of atomic upsert as
    `PixelRollup` (``dims_hash`` is `rollups.coarse_hash` of the grain's values), so it always
    equals a GROUP BY of the full grain; reports read whichever table answers them exactly
    (`reports.planner`).
    """

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("pixel_campaigns.id", ondelete="CASCADE"))
    dims_hash: Mapped[str] = mapped_column(String(32))
    domain: Mapped[str] = mapped_column(String(255), default="")
    macros: Mapped[str] = mapped_column(Text, default="")
    misrepresented: Mapped[bool] = mapped_column(Boolean, default=False)


class PixelSiteDay(_CoarseRollup, Base):
    """Loads per campaign, day, domain and macro set, by traffic type."""

    __tablename__ = "pixel_site_days"
    __table_args__ = (
        UniqueConstraint("campaign_id", "dims_hash", name="uq_pixel_site_days_campaign_dims"),
        # No `macros`: no reader seeks or sorts on it, and the JSON made every insert dearer.
        Index("ix_pixel_site_days_campaign_date", "campaign_id", "date", "domain"),
    )

    date: Mapped[dt.date] = mapped_column(Date)
    human: Mapped[int] = mapped_column(BigInteger, default=0)
    bot: Mapped[int] = mapped_column(BigInteger, default=0)
    ai_agent: Mapped[int] = mapped_column(BigInteger, default=0)


class PixelUrlDay(_CoarseRollup, Base):
    """Human loads per campaign, day, domain, URL and macro set."""

    __tablename__ = "pixel_url_days"
    __table_args__ = (
        UniqueConstraint("campaign_id", "dims_hash", name="uq_pixel_url_days_campaign_dims"),
        Index("ix_pixel_url_days_campaign_date", "campaign_id", "date"),
    )

    date: Mapped[dt.date] = mapped_column(Date)
    url: Mapped[str] = mapped_column(Text, default="")
    human: Mapped[int] = mapped_column(BigInteger, default=0)


class PixelUrlMonth(_CoarseRollup, Base):
    """Human loads per campaign, calendar month (its first day), domain, URL and macro set."""

    __tablename__ = "pixel_url_months"
    __table_args__ = (
        UniqueConstraint("campaign_id", "dims_hash", name="uq_pixel_url_months_campaign_dims"),
        Index("ix_pixel_url_months_campaign_month", "campaign_id", "month"),
    )

    month: Mapped[dt.date] = mapped_column(Date)
    url: Mapped[str] = mapped_column(Text, default="")
    human: Mapped[int] = mapped_column(BigInteger, default=0)


class PixelIngestFile(Base):
    """How far ``beacon ingest-log`` read one log file into one campaign, so a re-run adds
    only the lines appended since. The file is known by device and inode; the hash of its
    first bytes tells a rotated or replaced file (same inode, new content) from the same one."""

    __tablename__ = "pixel_ingest_files"
    __table_args__ = (
        UniqueConstraint("campaign_id", "device", "inode", name="uq_pixel_ingest_files_file"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("pixel_campaigns.id", ondelete="CASCADE"))
    # st_dev and st_ino are unsigned 64-bit: text, so no value overflows a BIGINT.
    device: Mapped[str] = mapped_column(String(24))
    inode: Mapped[str] = mapped_column(String(24))
    head_bytes: Mapped[int] = mapped_column(Integer)
    head_sha256: Mapped[str] = mapped_column(String(64))
    byte_offset: Mapped[int] = mapped_column(BigInteger)
    lines: Mapped[int] = mapped_column(BigInteger)
    path: Mapped[str] = mapped_column(Text)
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
