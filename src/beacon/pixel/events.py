"""Server-side ingestion: page loads a publisher's server saw, fed to the collector's spool.

For visitors that never load an image (most bots), the publisher sends events itself, through
`POST /v1/pixel/events` or `beacon ingest-log`. Events take the same path as pixel hits: a spool
record each, enriched and counted by the consumer, so the rollups cannot tell them apart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyAddress,
    TypeAdapter,
    ValidationError,
)
from sqlalchemy.orm import Session

from beacon.core.errors import (
    InvalidValue,
    ServiceUnavailable,
    field_name,
)
from beacon.core.ids import StrictId
from beacon.core.timefmt import ISODateTime, as_utc, utcnow
from beacon.pixel import service
from beacon.pixel.enrich import HitRejected, extract_macros
from beacon.pixel.geo import reported_country
from beacon.pixel.hits import event_record, normalize_page_url
from beacon.pixel.macros import RESERVED_PARAMS
from beacon.pixel.metrics import PixelMetrics
from beacon.pixel.spool import Spool

MAX_EVENTS = 10_000
MAX_URL_CHARS = 8192
MAX_USER_AGENT_CHARS = 1024
FUTURE_TOLERANCE = dt.timedelta(hours=1)


def _country(value: str | None) -> str | None:
    return None if value is None else reported_country(value)


class PixelEvent(BaseModel):
    """One page load seen by the publisher's server."""

    model_config = ConfigDict(extra="forbid")

    timestamp: ISODateTime = Field(description="When it happened (ISO 8601; no zone means UTC).")
    url: str = Field(max_length=MAX_URL_CHARS, description="Absolute http(s) page URL.")
    user_agent: str = Field(default="", max_length=MAX_USER_AGENT_CHARS)
    ip: IPvAnyAddress | None = Field(default=None, description="Visitor IP, for the country.")
    country: Annotated[str | None, AfterValidator(_country)] = Field(
        default=None,
        json_schema_extra={"pattern": "^[A-Za-z0-9]{2}$"},  # checked by _country, in words
        description="ISO 3166-1 alpha-2 (any case); wins over ip. ZZ (unknown), EU, XX and "
        "the like name no country: the ip decides.",
    )
    macros: dict[str, str] = Field(default_factory=dict)


class EventBatch(BaseModel):
    """Up to 10,000 events of one campaign."""

    model_config = ConfigDict(extra="forbid")

    campaign_id: StrictId
    # Validated one by one in the service, so a bad event is reported by its index.
    events: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_EVENTS)


class EventRejection(BaseModel):
    index: int
    reason: str


class EventsAccepted(BaseModel):
    """What happened to a batch: accepted events will be counted, rejected ones never."""

    campaign_id: int
    accepted: int
    rejected: int
    rejections: list[EventRejection] = Field(
        description="Index and reason of each rejected event (a limit on its macros)."
    )


_EVENT = TypeAdapter(PixelEvent)
_RESERVED = set(RESERVED_PARAMS)


def parse_event(raw: Mapping[str, Any], index: int) -> PixelEvent:
    """A validated event; ValidationFailed naming ``events[index].field`` otherwise."""
    try:
        event = _EVENT.validate_python(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = field_name(("events", index, *error["loc"]))
        raise InvalidValue(where, str(error["msg"]).removeprefix("Value error, ")) from None
    if not normalize_page_url(event.url):
        raise InvalidValue(f"events[{index}].url", "expected an absolute http(s) URL")
    if as_utc(event.timestamp) > utcnow() + FUTURE_TOLERANCE:
        raise InvalidValue(f"events[{index}].timestamp", "in the future")
    return event


def event_line(*, campaign_id: int, event: PixelEvent) -> bytes:
    """The spool record of an event; HitRejected when its macros break a limit."""
    extract_macros(event.macros.items(), _RESERVED)
    return event_record(
        ts=as_utc(event.timestamp).timestamp(),
        campaign_id=campaign_id,
        url=event.url,
        user_agent=event.user_agent,
        ip=str(event.ip) if event.ip is not None else None,
        country=event.country,
        macros=event.macros,
    )


def spool_events(
    *, spool: Spool, metrics: PixelMetrics, campaign_id: int, events: Iterable[PixelEvent]
) -> list[EventRejection]:
    """Append the events to the spool; returns the ones rejected (not appended)."""
    rejections: list[EventRejection] = []
    for index, event in enumerate(events):
        try:
            line = event_line(campaign_id=campaign_id, event=event)
        except HitRejected as exc:
            rejections.append(EventRejection(index=index, reason=exc.reason))
            metrics.reject(exc.reason)
            continue
        spool.append(line)
        metrics.event_accepted.inc()
    return rejections


def ingest_events(
    *,
    session: Session,
    account_id: int,
    batch: EventBatch,
    spool: Spool | None,
    metrics: PixelMetrics,
) -> EventsAccepted:
    """Validate a batch (all or nothing), then spool its events like pixel hits."""
    service.get_campaign(session=session, account_id=account_id, campaign_id=batch.campaign_id)
    events: Sequence[PixelEvent] = [parse_event(raw, i) for i, raw in enumerate(batch.events)]
    if spool is None:
        raise ServiceUnavailable("The pixel collector is not running")
    try:
        rejections = spool_events(
            spool=spool, metrics=metrics, campaign_id=batch.campaign_id, events=events
        )
    except OSError:
        raise ServiceUnavailable("The pixel spool cannot be written; retry later") from None
    return EventsAccepted(
        campaign_id=batch.campaign_id,
        accepted=len(events) - len(rejections),
        rejected=len(rejections),
        rejections=rejections,
    )
