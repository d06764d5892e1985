"""Timestamp formats of the two API families, and the one clock everything reads."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from beacon.core.openapi import generate_within


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


# The range of every date and time the APIs accept: wide enough for any real event, report or
# schedule, and far enough inside Python's years 1 to 9999 that no time-zone conversion or day
# arithmetic on an accepted value can leave them (an OverflowError, which would be a 500).
EARLIEST = date(1970, 1, 1)
LATEST = date(2999, 12, 31)


# The same range as instants: from the first moment of EARLIEST to the last of LATEST, in UTC.
FIRST_INSTANT = datetime.combine(EARLIEST, time.min, tzinfo=UTC)
LAST_INSTANT = datetime.combine(LATEST, time.max, tzinfo=UTC)
RANGE_PROBLEM = f"expected a date from {EARLIEST.isoformat()} to {LATEST.isoformat()}"


def in_range(value: date) -> bool:
    """Whether ``value`` lies within ``EARLIEST``..``LATEST``: a date or a naive date-time by
    its own calendar day, an aware date-time as the instant it is, in UTC, whatever its offset
    (2999-12-31T23:30-08:00 is 3000-01-01T07:30Z: out; 3000-01-01T09:00+14:00 is in)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        # aware datetimes compare as instants, without a conversion that could overflow
        return FIRST_INSTANT <= value <= LAST_INSTANT
    day = value.date() if isinstance(value, datetime) else value
    return EARLIEST <= day <= LATEST


def check_in_range(value: date) -> date:
    """``value`` if it is ``in_range``; a validation error naming the range otherwise."""
    if not in_range(value):
        raise PydanticCustomError(
            "date_range",
            "expected a date from {earliest} to {latest}",
            {"earliest": EARLIEST.isoformat(), "latest": LATEST.isoformat()},
        )
    return value


# The most days a report or a stats query covers (Measure's and Activate's alike): a year with
# its leap day. A longer range is refused rather than scanned: it protects the server, and no
# seed asks for more.
MAX_REPORT_DAYS = 366


def date_range_problem(start: date, end: date, *, max_days: int | None = None) -> str | None:
    """Why ``start_date``..``end_date`` (inclusive) is refused, in the one wording of every
    API family (an end before the start, or more than ``max_days`` days); None when it is fine."""
    if start > end:
        return f"end_date {end.isoformat()} is before start_date {start.isoformat()}"
    days = (end - start).days + 1
    if max_days is not None and days > max_days:
        return f"the range covers {days} days; at most {max_days} are allowed"
    return None


_UNIX_TIME = re.compile(r"[+-]?\d+(\.\d*)?")
_DATETIME = TypeAdapter(datetime)


def parse_iso_datetime(value: object) -> object:
    """An ISO 8601 date-time string (pydantic alone would also take a number, or a string of
    digits, as Unix time, and would word a malformed one "Input should be a valid datetime")."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or _UNIX_TIME.fullmatch(value.strip()):
        raise PydanticCustomError("datetime_type", "expected date-time, use ISO 8601")
    try:
        return _DATETIME.validate_python(value)
    except ValidationError as exc:
        reason = (exc.errors()[0].get("ctx") or {}).get("error", "not ISO 8601")
        raise PydanticCustomError(
            "datetime_invalid",
            "'{value}' is not a valid ISO 8601 date-time ({reason})",
            {"value": value if len(value) <= 64 else value[:61] + "...", "reason": str(reason)},
        ) from None


# For generators only (core.openapi): days that exist in every month, of years whose every
# moment is in range whatever the zone.
_YEARS = r"(19[89][0-9]|2[0-8][0-9]{2})"
_DAY = rf"{_YEARS}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])"

# The one date type of every API input: errors say "use YYYY-MM-DD", "not a valid date" or
# the range.
ISODate = Annotated[
    date,
    BeforeValidator(parse_iso_date),
    AfterValidator(check_in_range),
    Field(json_schema_extra=generate_within(pattern=f"^{_DAY}$")),
]
# The one date-time type of every API input (ISO 8601, with or without a zone), in range.
ISODateTime = Annotated[
    datetime,
    BeforeValidator(parse_iso_datetime),
    AfterValidator(check_in_range),
    Field(json_schema_extra=generate_within(pattern=f"^{_DAY}T{_TIME}$")),
]
