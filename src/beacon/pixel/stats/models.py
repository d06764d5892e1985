"""Stats summaries: the rollups summed per day and per calendar month, with device/country levels.

Written by the same flush (and the same atomic, additive upserts) as the daily rollups
(`beacon.pixel.rollups.increment`), so they are exact and crash-safe exactly as those are; the
migration that created them back-filled them from `pixel_rollups`.

Each table keeps every key at four *levels*: the real device and country, the device with
every country (``geo = '*'``), every device with the country (``device = '*'``), and both
summed (``'*'``, ``'*'``). A request filtered by device only reads the ``(device, '*')`` rows,
an unfiltered one the ``('*', '*')`` rows: never more rows than its filters need. Keys are kept
per calendar month (``span = 'month'``, ``period`` its first day); a range reads its whole
months from month rows and only its partial months' days from day rows: the agent summary
keeps days at every level (it also gives the daily series), the URL summary keeps days over
every device and country, and other days come from the daily rollups (site-days, or the
full grain under a device / country filter).
"""

from __future__ import annotations

import datetime as dt

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

from beacon.core.db import Base

ALL = "*"  # the device or country of a row summed over every device or country
DAY, MONTH = "day", "month"


class _Summary:
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("pixel_campaigns.id", ondelete="CASCADE"))
    span: Mapped[str] = mapped_column(String(5))
    period: Mapped[dt.date] = mapped_column(Date)
    device: Mapped[str] = mapped_column(String(16))
    geo: Mapped[str] = mapped_column(String(2))


class PixelStatsAgent(_Summary, Base):
    """Loads per period, device, country, traffic type and agent (human, bot, AI agent)."""

    __tablename__ = "pixel_stats_agents"
    __table_args__ = (
        UniqueConstraint(
            "campaign_id", "span", "device", "geo", "period", "traffic_type", "agent",
            name="uq_pixel_stats_agents_key",
        ),
    )  # fmt: skip

    traffic_type: Mapped[str] = mapped_column(String(16))
    agent: Mapped[str] = mapped_column(String(100))
    hits: Mapped[int] = mapped_column(BigInteger, default=0)


class PixelStatsSite(_Summary, Base):
    """Loads per period, device, country, domain and macro set, by traffic type."""

    __tablename__ = "pixel_stats_sites"
    __table_args__ = (
        UniqueConstraint("campaign_id", "dims_hash", name="uq_pixel_stats_sites_campaign_dims"),
        Index("ix_pixel_stats_sites_level", "campaign_id", "span", "device", "geo", "period"),
    )

    dims_hash: Mapped[str] = mapped_column(String(32))
    domain: Mapped[str] = mapped_column(String(255))
    macros: Mapped[str] = mapped_column(Text)
    misrepresented: Mapped[bool] = mapped_column(Boolean)
    human: Mapped[int] = mapped_column(BigInteger, default=0)
    bot: Mapped[int] = mapped_column(BigInteger, default=0)
    ai_agent: Mapped[int] = mapped_column(BigInteger, default=0)


class PixelStatsUrl(_Summary, Base):
    """Human loads per period, device, country and URL (with its domain)."""

    __tablename__ = "pixel_stats_urls"
    __table_args__ = (
        UniqueConstraint("campaign_id", "dims_hash", name="uq_pixel_stats_urls_campaign_dims"),
        # The top URLs of one period and level, largest first, without sorting.
        Index("ix_pixel_stats_urls_top", "campaign_id", "span", "device", "geo", "period", "human"),
        # The exact loads of given URLs (the candidates of the top-URL answer); by hash, as
        # a URL may be longer than a btree entry.
        Index(
            "ix_pixel_stats_urls_url", "campaign_id", "span", "device", "geo", "url_hash", "period"
        ),
    )

    dims_hash: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(Text)
    url_hash: Mapped[str] = mapped_column(String(32))  # md5 of the URL
    domain: Mapped[str] = mapped_column(String(255))
    human: Mapped[int] = mapped_column(BigInteger, default=0)
