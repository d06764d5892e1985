"""Report rows are the job queue; their result rows are stored so GET can page through them."""

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
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from beacon.core.db import Base
from beacon.core.jobs import JobMixin

CAMPAIGN, PUBLISHER = "campaign", "publisher"


class PixelReport(JobMixin, Base):
    """One requested report: the request, its job state, and (when complete) its summary."""

    __tablename__ = "pixel_reports"
    __table_args__ = (
        # At most one identical request in flight: the dedup rule, enforced by the database.
        Index(
            "uq_pixel_reports_active_request",
            "account_id",
            "request_key",
            unique=True,
            postgresql_where=text("status IN ('pending', 'processing')"),
            sqlite_where=text("status IN ('pending', 'processing')"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("pixel_campaigns.id", ondelete="CASCADE"), index=True
    )
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    dimensions: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list as requested
    filters: Mapped[str] = mapped_column(Text, default="{}")  # normalised JSON object
    include_classification: Mapped[bool] = mapped_column(Boolean, default=False)
    request_key: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON, set when complete
    row_count: Mapped[int | None] = mapped_column(Integer, nullable=True)


class PixelReportRow(Base):
    """One result row of a report, numbered from 0 in the report's order."""

    __tablename__ = "pixel_report_rows"

    report_id: Mapped[int] = mapped_column(
        ForeignKey("pixel_reports.id", ondelete="CASCADE"), primary_key=True
    )
    row_number: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True
    )
    payload: Mapped[str] = mapped_column(Text)
