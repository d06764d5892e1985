"""Timestamp formats of the two API families, and the one clock everything reads."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError


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


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_iso_date(value: object) -> object:
    """A calendar day written ``YYYY-MM-DD`` and nothing else (pydantic alone would also take
    ``20261102`` as a Unix timestamp and ``2026-11-02T00:00:00`` as a day)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise PydanticCustomError("date_format", "expected date, use YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise PydanticCustomError(
            "date_invalid",
            "'{value}' is not a valid date ({reason})",
            {"value": value, "reason": str(exc)},
        ) from None


# The one date type of every API input: errors say "use YYYY-MM-DD" or "not a valid date".
ISODate = Annotated[date, BeforeValidator(parse_iso_date)]
