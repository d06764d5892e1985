"""The stats cache: traffic per day by device, country, traffic type and agent.

Derived from `pixel_rollups` (the full grain) one whole day at a time, so the dashboard's
device, country and agent breakdowns read ~1,600 rows a day instead of every URL and macro
set of it. A day is valid while its loads equal the loads of the same day in
`pixel_site_days`: rollups only ever grow (atomic increments), so equal totals mean no hit
arrived since the day was cached. Nothing writes here but `stats.service`; the rollup tables
and their write path are untouched.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from beacon.core.db import Base


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
