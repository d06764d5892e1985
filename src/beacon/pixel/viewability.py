"""Viewability measured by the script tag: which spool records are its events, and the join.

The script tag (`macros.snippets`) makes up an impression id (`iid`) in the browser and sends
it with the impression hit; where IntersectionObserver and the Page Visibility API exist it
then sends `{"iid": ..., "ev": "measurable"}` once, and `{"iid": ..., "ev": "viewable"}` once
the MRC threshold is met (docs/measure.md). Events reach the collector's ordinary beacon and
GIF paths, so the hot path does nothing new; the flusher tells them apart here.

The join, per spool segment and in the segment's transaction (`record`): impressions and
events are merged into `PixelImpressionView` rows by (campaign, impression id) with one upsert
that returns what it completed, so whichever segment completes the pair counts it, exactly
once, even with several flushers; an event is counted only when its impression is there, under
the impression's dimensions, into `PixelViewability`. A `viewable` event implies `measurable`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import orjson
from sqlalchemy.orm import Session

from beacon.pixel import viewability_repository as repository
from beacon.pixel.enrich import HitRejected
from beacon.pixel.hits import BEACON, GIF, MAX_QUERY_FIELDS
from beacon.pixel.macros import EVENT_FIELD, IMPRESSION_ID_FIELD
from beacon.pixel.rollups import RollupKey
from beacon.pixel.viewability_repository import Dimensions, ViewState

MEASURABLE, VIEWABLE = "measurable", "viewable"
EVENTS = frozenset({MEASURABLE, VIEWABLE})
# How long an impression waits for its events (and an event for its impression).
STATE_TTL = dt.timedelta(days=1)
_IMPRESSION_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
_MARKER = IMPRESSION_ID_FIELD.encode()


def rate(*, viewable: int, measurable: int) -> float | None:
    """Viewable / measurable impressions (6 decimals); None when nothing was measurable."""
    return round(viewable / measurable, 6) if measurable else None


@dataclass(frozen=True, slots=True)
class TagFields:
    """The viewability fields of one script-tag record; ``event`` is None for the impression."""

    campaign_id: int
    impression_id: str
    event: str | None


def tag_fields(record: bytes) -> TagFields | None:
    """The impression id and event a spool record carries; None for any other hit.

    HitRejected for an event that cannot be counted (no valid impression id, unknown event):
    it is not an impression either. Corrupt records are left to the enricher to reject.
    """
    if _MARKER not in record:  # every record of the tag has it; older tags' records skip fast
        return None
    try:
        fields = orjson.loads(record)
        kind, campaign_id, payload = fields[0], int(fields[2]), fields[4]
        sent = _sent_fields(kind, payload)
    except (IndexError, TypeError, ValueError, OverflowError):
        return None
    impression_id, event = sent.get(IMPRESSION_ID_FIELD), sent.get(EVENT_FIELD)
    if not isinstance(impression_id, str) or not _IMPRESSION_ID.fullmatch(impression_id):
        if event is None:
            return None  # an impression all the same, only unmeasurable
        raise HitRejected("bad_view_event")
    if event is None:
        return TagFields(campaign_id, impression_id, None)
    if event not in EVENTS:
        raise HitRejected("bad_view_event")
    return TagFields(campaign_id, impression_id, str(event))


def _sent_fields(kind: str, payload: str) -> dict[str, object]:
    if kind == BEACON:
        data = orjson.loads(payload)
        return data if isinstance(data, dict) else {}
    if kind == GIF:
        return dict(reversed(parse_qsl(payload, max_num_fields=MAX_QUERY_FIELDS)))
    return {}


@dataclass
class SegmentViews:
    """The impressions and events of one spool segment, by (campaign, impression id)."""

    impressions: dict[tuple[int, str], RollupKey] = field(default_factory=dict)
    events: dict[tuple[int, str], set[str]] = field(default_factory=dict)

    def add(self, tag: TagFields, key: RollupKey | None = None) -> None:
        """Note an event, or (with its rollup key) an impression; the first impression wins."""
        ident = (tag.campaign_id, tag.impression_id)
        if tag.event is None:
            if key is not None:
                self.impressions.setdefault(ident, key)
        else:
            self.events.setdefault(ident, set()).add(tag.event)

    def campaign_ids(self) -> set[int]:
        """Campaigns the segment's events and impressions name."""
        return {ident[0] for ident in (*self.impressions, *self.events)}

    def keep_campaigns(self, known: set[int]) -> None:
        """Forget everything of campaigns that do not exist."""
        self.impressions = {k: v for k, v in self.impressions.items() if k[0] in known}
        self.events = {k: v for k, v in self.events.items() if k[0] in known}

    def idents(self) -> list[tuple[int, str]]:
        """Every (campaign, impression id) the segment has an impression or events of."""
        return list(self.impressions.keys() | self.events.keys())

    def only(self, idents: Iterable[tuple[int, str]]) -> SegmentViews:
        """The impressions and events of ``idents`` alone."""
        part = SegmentViews()
        for ident in idents:
            if ident in self.impressions:
                part.impressions[ident] = self.impressions[ident]
            if ident in self.events:
                part.events[ident] = self.events[ident]
        return part

    def drop_impressions(self, keys: Container[RollupKey]) -> None:
        """Forget the impressions counted under ``keys`` (hits that were not counted)."""
        self.impressions = {k: v for k, v in self.impressions.items() if v not in keys}

    def states(self) -> list[ViewState]:
        """One merged state per impression id, as the segment alone knows it."""
        states = []
        for ident in self.impressions.keys() | self.events.keys():
            key, events = self.impressions.get(ident), self.events.get(ident, set())
            states.append(
                ViewState(
                    campaign_id=ident[0],
                    impression_id=ident[1],
                    has_impression=key is not None,
                    human=key is not None and key.traffic_type == "human",
                    dimensions=_dimensions(key) if key is not None else None,
                    measurable=bool(events),  # a viewable event implies measurable
                    viewable=VIEWABLE in events,
                )
            )
        return states


def _dimensions(key: RollupKey) -> Dimensions:
    return Dimensions(key.date, key.domain[:255], key.url, key.device, key.geo, key.macros)


@dataclass(frozen=True, slots=True)
class Counted:
    """Measurable and viewable impressions a flush added."""

    measurable: int = 0
    viewable: int = 0


def record(session: Session, views: SegmentViews) -> Counted:
    """Join a segment's impressions and events into the state; count what completed, once."""
    states = views.states()
    if not states:
        return Counted()
    measurable: Counter[tuple[int, Dimensions]] = Counter()
    viewable: Counter[tuple[int, Dimensions]] = Counter()
    for added in repository.merge_states(session, states):
        if added.human:  # campaign reports count human impressions only
            grain = (added.campaign_id, added.dimensions)
            measurable[grain] += added.measurable
            viewable[grain] += added.viewable
    repository.increment(session, measurable=measurable, viewable=viewable)
    return Counted(measurable.total(), viewable.total())


def prune(session: Session, *, now: dt.datetime) -> int:
    """Forget join state older than `STATE_TTL`; events arriving later are never counted."""
    return repository.prune_states(session, before=now - STATE_TTL)
