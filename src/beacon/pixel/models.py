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
    hits: Mapped[int] = mapped_column(BigInteger, default=0)
