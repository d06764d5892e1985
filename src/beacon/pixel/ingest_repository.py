"""Queries of `beacon ingest-log`: how far each log file was read into each campaign."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from beacon.core.timefmt import utcnow
from beacon.pixel.models import PixelIngestFile


def find_file(
    session: Session, *, campaign_id: int, device: str, inode: str
) -> PixelIngestFile | None:
    """The record of this file (device, inode) for this campaign, if it was ever ingested."""
    return session.scalar(
        select(PixelIngestFile).where(
            PixelIngestFile.campaign_id == campaign_id,
            PixelIngestFile.device == device,
            PixelIngestFile.inode == inode,
        )
    )


def save_file(
    session: Session,
    *,
    campaign_id: int,
    device: str,
    inode: str,
    head_bytes: int,
    head_sha256: str,
    byte_offset: int,
    lines: int,
    path: str,
) -> None:
    """Record (or move forward) how far this file was read."""
    row = find_file(session, campaign_id=campaign_id, device=device, inode=inode)
    if row is None:
        row = PixelIngestFile(campaign_id=campaign_id, device=device, inode=inode)
        session.add(row)
    row.head_bytes, row.head_sha256 = head_bytes, head_sha256
    row.byte_offset, row.lines, row.path = byte_offset, lines, path
    row.ingested_at = utcnow()
    session.flush()
