"""The stats cache (traffic per day by device, country, traffic type and agent) and the month
summaries the folding job (`stats.folds`) builds from closed days.

Derived from `pixel_rollups` (the full grain) one whole day at a time, so the dashboard's
device, country and agent breakdowns read ~1,600 rows a day instead of every URL and macro
set of it. A day is valid while its loads equal the loads of the same day in
`pixel_site_days`: rollups only ever grow (atomic increments), so equal totals mean no hit
arrived since the day was cached. Nothing writes here but `stats.service`; the rollup tables
and their write path are untouched.
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
from beacon.core.jobs import JobMixin


class PixelStatsTraffic(Base):
    """Loads of one campaign day by device, country, traffic type and agent."""

    __tablename__ = "pixel_stats_traffic"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("pixel_campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    device: Mapped[str] = mapped_column(String(16), primary_key=True)
    geo: Mapped[str] = mapped_column(String(2), primary_key=True)
    traffic_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    agent: Mapped[str] = mapped_column(String(100), primary_key=True)
    hits: Mapped[int] = mapped_column(BigInteger, default=0)


class PixelStatsDay(Base):
    """A cached day and the loads it held when cached (its validity check)."""

    __tablename__ = "pixel_stats_days"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("pixel_campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    loads: Mapped[int] = mapped_column(BigInteger, default=0)


# --- Month summaries, folded off the ingest path ------------------------------------------------

ALL = "*"  # the device or country of a row summed over every device or country
DAY, MONTH, WHOLE = "day", "month", "whole"
# The period of the ``whole`` rows: the sum of every folded month of the campaign, kept by the
# folding job with the month rows (a range covering most of a campaign reads them, minus the
# folded months and days outside it).
WHOLE_PERIOD = dt.date(1970, 1, 1)


class _Summary:
    """A summary row: one campaign, a period (a day, or a month's first day) and a level.

    Every key is kept at several device / country *levels*: the real device and country, the
    device over every country (``geo = '*'``), every device with the country (``device =
    '*'``), and both summed. A request reads only the level its filters ask for.
    """

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("pixel_campaigns.id", ondelete="CASCADE"))
    span: Mapped[str] = mapped_column(String(5))
    period: Mapped[dt.date] = mapped_column(Date)
    device: Mapped[str] = mapped_column(String(16))
    geo: Mapped[str] = mapped_column(String(2))


class PixelStatsAgent(_Summary, Base):
    """Loads per period, level, traffic type and agent: day rows of every folded day and
    month rows (the sum of the month's folded days), at all four levels."""

    __tablename__ = "pixel_stats_agents"
    __table_args__ = (
        UniqueConstraint(
            "campaign_id", "span", "device", "geo", "period", "traffic_type", "agent",
            name="uq_pixel_stats_agents_key",
        ),
        # A few days' rows at every device and country (days subtracted from a month).
        Index("ix_pixel_stats_agents_period", "campaign_id", "span", "period"),
    )  # fmt: skip

    traffic_type: Mapped[str] = mapped_column(String(16))
    agent: Mapped[str] = mapped_column(String(100))
    hits: Mapped[int] = mapped_column(BigInteger, default=0)


class PixelStatsDomainAgent(_Summary, Base):
    """Loads per period, level, domain, traffic type and agent: the agent rows per domain (day
    rows of every folded day, month and whole rows, at all four levels). What a ``domain``
    filter reads for its series, devices, countries and agents."""

    __tablename__ = "pixel_stats_domain_agents"
    __table_args__ = (
        UniqueConstraint(
            "campaign_id", "domain", "span", "period", "device", "geo", "traffic_type", "agent",
            name="uq_pixel_stats_domain_agents_key",
        ),
        # A month's or a few days' rows of every domain (unfolding a month, folding its sums).
        Index("ix_pixel_stats_domain_agents_period", "campaign_id", "span", "period"),
    )  # fmt: skip

    domain: Mapped[str] = mapped_column(String(255))
    traffic_type: Mapped[str] = mapped_column(String(16))
    agent: Mapped[str] = mapped_column(String(100))
    hits: Mapped[int] = mapped_column(BigInteger, default=0)


class PixelStatsSite(_Summary, Base):
    """Loads per month, level, domain and macro set, by traffic type (month rows only)."""

    __tablename__ = "pixel_stats_sites"
    __table_args__ = (
        UniqueConstraint(
            "campaign_id", "span", "device", "geo", "period", "key_hash",
            name="uq_pixel_stats_sites_key",
        ),
        # The rows of given domains (a ``domain`` filter).
        Index(
            "ix_pixel_stats_sites_domain", "campaign_id", "domain", "span", "device", "geo", "period"
        ),
    )  # fmt: skip

    key_hash: Mapped[str] = mapped_column(String(32))  # md5 of domain, macros and the flag
    domain: Mapped[str] = mapped_column(String(255))
    macros: Mapped[str] = mapped_column(Text)
    misrepresented: Mapped[bool] = mapped_column(Boolean)
    human: Mapped[int] = mapped_column(BigInteger, default=0)
    bot: Mapped[int] = mapped_column(BigInteger, default=0)
    ai_agent: Mapped[int] = mapped_column(BigInteger, default=0)


class PixelStatsUrl(_Summary, Base):
    """Human loads per month, level and URL (with its domain); no device × country level."""

    __tablename__ = "pixel_stats_urls"
    __table_args__ = (
        UniqueConstraint(
            "campaign_id",
            "span",
            "device",
            "geo",
            "period",
            "key_hash",
            name="uq_pixel_stats_urls_key",
        ),
        # The top URLs of one month and level, largest first, without sorting.
        Index("ix_pixel_stats_urls_top", "campaign_id", "span", "device", "geo", "period", "human"),
        # The exact loads of given URLs (the candidates of the top-URL answer); by hash, as a
        # URL may be longer than a btree entry.
        Index(
            "ix_pixel_stats_urls_url", "campaign_id", "span", "device", "geo", "url_hash", "period"
        ),
        # The URLs of given domains (a ``domain`` filter sums them all).
        Index(
            "ix_pixel_stats_urls_domain", "campaign_id", "domain", "span", "device", "geo", "period"
        ),
    )

    key_hash: Mapped[str] = mapped_column(String(32))  # md5 of the URL and its domain
    url: Mapped[str] = mapped_column(Text)
    url_hash: Mapped[str] = mapped_column(String(32))  # md5 of the URL
    domain: Mapped[str] = mapped_column(String(255))
    human: Mapped[int] = mapped_column(BigInteger, default=0)


class PixelStatsFolded(Base):
    """A day folded into the summaries, and its loads (in site-days) when folded: the day is
    folded again when they differ (late hits; rollups only grow)."""

    __tablename__ = "pixel_stats_folded"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("pixel_campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    loads: Mapped[int] = mapped_column(BigInteger, default=0)


class PixelStatsFold(JobMixin, Base):
    """The folding job of one campaign (`stats.folds`): one row per campaign, set pending again
    by each tick of the folding task once it finished."""

    __tablename__ = "pixel_stats_folds"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("pixel_campaigns.id", ondelete="CASCADE"), unique=True
    )
