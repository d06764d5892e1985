"""Viewability measured by the script tag: per-impression join state and the counters reports read."""

from __future__ import annotations

import datetime as dt
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from beacon.core.db import Base, UTCDateTime
from beacon.core.timefmt import utcnow


class PixelImpressionView(Base):
    """What the flusher has seen of one script-tag impression, until it is pruned.

    The tag's impression hit and its `measurable` / `viewable` events arrive as separate
    requests, possibly in different spool segments; this row joins them. An event counts
    once (``counted_*``) and only once its impression is here (``has_impression``), under the
    impression's dimensions. Rows older than `viewability.STATE_TTL` are deleted: an event
    arriving later than that is never counted.
    """

    __tablename__ = "pixel_impression_views"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("pixel_campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    impression_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    has_impression: Mapped[bool] = mapped_column(Boolean, default=False)
    human: Mapped[bool] = mapped_column(Boolean, default=False)
    date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    domain: Mapped[str] = mapped_column(String(255), default="")
    url: Mapped[str] = mapped_column(Text, default="")
    device: Mapped[str] = mapped_column(String(16), default="")
    geo: Mapped[str] = mapped_column(String(2), default="")
    macros: Mapped[str] = mapped_column(Text, default="")
    measurable: Mapped[bool] = mapped_column(Boolean, default=False)
    viewable: Mapped[bool] = mapped_column(Boolean, default=False)
    counted_measurable: Mapped[bool] = mapped_column(Boolean, default=False)
    counted_viewable: Mapped[bool] = mapped_column(Boolean, default=False)
    # Whether the row's last upsert added its measurable / viewable to the counters: how the
    # upsert's RETURNING tells the flusher what to count.
    added_measurable: Mapped[bool] = mapped_column(Boolean, default=False)
    added_viewable: Mapped[bool] = mapped_column(Boolean, default=False)


class PixelViewability(Base):
    """Measurable and viewable human impressions per campaign and campaign-report dimensions.

    Written like the rollups (atomic ``+ n`` upserts keyed by ``dims_hash``, the same hash as
    `rollups.RollupKey` values give), read by campaign reports and stats beside them.
    """

    __tablename__ = "pixel_viewability"
    __table_args__ = (Index("ix_pixel_viewability_campaign_date", "campaign_id", "date"),)

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("pixel_campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    dims_hash: Mapped[str] = mapped_column(String(32), primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date)
    domain: Mapped[str] = mapped_column(String(255), default="")
    url: Mapped[str] = mapped_column(Text, default="")
    device: Mapped[str] = mapped_column(String(16), default="")
    geo: Mapped[str] = mapped_column(String(2), default="")
    macros: Mapped[str] = mapped_column(Text, default="")
    measurable: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    viewable: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
