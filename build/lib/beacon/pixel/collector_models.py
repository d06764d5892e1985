"""Bookkeeping of the pixel collector's spool flusher."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from beacon.core.db import Base, UTCDateTime
from beacon.core.timefmt import utcnow


class PixelSpoolSegment(Base):
    """A spool segment whose hits are in the rollups.

    Inserted in the same transaction as the segment's rollup increments, so replaying a
    segment after a crash between that commit and the file's deletion adds nothing twice.
    """

    __tablename__ = "pixel_spool_segments"

    segment_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
