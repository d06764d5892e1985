"""Timestamp formats of the two API families, and the one clock everything reads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Treat naive datetimes as UTC and convert aware ones to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso_seconds(value: datetime) -> str:
    """``2026-02-12T20:33:44Z``: the /v1 family's timestamp format."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis(value: datetime) -> str:
    """``2026-04-25T10:00:00.000Z``: the /public/v1 family's timestamp format."""
    utc = as_utc(value)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


UTCSeconds = Annotated[datetime, PlainSerializer(iso_seconds, return_type=str)]
UTCMillis = Annotated[datetime, PlainSerializer(iso_millis, return_type=str)]
