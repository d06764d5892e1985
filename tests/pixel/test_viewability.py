"""Viewability events through the collector and the flusher: joined to their impression,
counted once, never without it, and shown by campaign reports."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.pixel.test_reports import run_worker

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.timefmt import utcnow
from beacon.pixel import viewability
from beacon.pixel.models import PixelRollup
from beacon.pixel.rollups import RollupKey
from beacon.pixel.viewability_models import PixelImpressionView, PixelViewability

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
PAGE = "https://www.nytimes.com/2026/tech.html"


@pytest.fixture
def client(pixel_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(pixel_app) as running:
        yield running


def _campaign(client: TestClient, headers: dict[str, str]) -> int:
    response = client.post(
        "/v1/pixel/campaigns", json={"name": "V", "use_case": "campaign_reporting"}, headers=headers
    )
    assert response.status_code == 201
    return int(response.json()["id"])


class Tag:
    """What the script tag sends, by beacon (or by its image fallback with ``gif=True``)."""

    def __init__(self, client: TestClient, campaign_id: int, ua: str = CHROME) -> None:
        self.client, self.campaign_id, self.ua = client, campaign_id, ua

    def send(self, fields: dict[str, str], *, gif: bool = False) -> None:
        path = f"/px/{self.campaign_id}"
        headers = {"User-Agent": self.ua}
        if gif:
            response = self.client.get(f"{path}.gif", params=fields, headers=headers)
            assert response.status_code == 200
        else:
            response = self.client.post(path, content=orjson.dumps(fields), headers=headers)
            assert response.status_code == 204

    def impression(self, iid: str, *, gif: bool = False, **macros: str) -> None:
        self.send({"url": PAGE, "ref": "", "cb": f"cb-{iid}", "iid": iid, **macros}, gif=gif)

    def event(self, iid: str, event: str, *, gif: bool = False) -> None:
        self.send({"iid": iid, "ev": event}, gif=gif)


def _flush(app: FastAPI) -> Any:
    return app.state.pixel.flush()


def _counters(db: Database, campaign_id: int) -> tuple[int, int]:
    with db.transaction() as session:
        row = session.execute(
            select(
                func.coalesce(func.sum(PixelViewability.measurable), 0),
                func.coalesce(func.sum(PixelViewability.viewable), 0),
            ).where(PixelViewability.campaign_id == campaign_id)
        ).one()
    return int(row[0]), int(row[1])


def _hits(db: Database, campaign_id: int) -> int:
    with db.transaction() as session:
        total = session.scalar(
            select(func.sum(PixelRollup.hits)).where(PixelRollup.campaign_id == campaign_id)
        )
    return int(total or 0)


def test_events_join_their_impression_once_across_segments(
    client: TestClient, pixel_app: FastAPI, db: Database, headers: dict[str, str]
) -> None:
    cid = _campaign(client, headers)
    tag = Tag(client, cid)
    # Segment 1: A complete; B's impression alone; C's events before its impression; D's
    # viewable event without any impression; a bot's impression and events.
    tag.impression("impression-a", creative_id="42")
    tag.event("impression-a", "measurable")
    tag.event("impression-a", "viewable")
    tag.impression("impression-b")
    tag.event("impression-c", "measurable")
    tag.event("impression-c", "viewable")
    tag.event("impression-d", "viewable")
    bot = Tag(client, cid, GOOGLEBOT)
    bot.impression("impression-bot")
    bot.event("impression-bot", "measurable")
    bot.event("impression-bot", "viewable")
    first = _flush(pixel_app)
    assert first.counted == 3  # impressions only: A, B and the bot's; events are not hits
    assert _counters(db, cid) == (1, 1)

    # Segment 2: B's events, C's impression, A's viewable again (a duplicate), by image too.
    tag.event("impression-b", "measurable", gif=True)
    tag.impression("impression-c", gif=True)
    tag.event("impression-a", "viewable")
    tag.event("impression-a", "measurable", gif=True)
    _flush(pixel_app)
    assert _counters(db, cid) == (3, 2)  # A measurable+viewable, B measurable, C both

    # Segment 3: B becomes viewable later; D still has no impression.
    tag.event("impression-b", "viewable")
    tag.event("impression-d", "measurable")
    _flush(pixel_app)
    assert _counters(db, cid) == (3, 3)
    assert _hits(db, cid) == 4  # A, B, C (human) and the bot's impression

    # `iid` is never a macro: A's rollup row keeps only its creative id.
    with db.transaction() as session:
        macros = set(
            session.scalars(select(PixelRollup.macros).where(PixelRollup.campaign_id == cid))
        )
    assert macros == {"", '{"creative_id":"42"}'}


def test_bad_events_are_rejected_and_not_hits(
    client: TestClient, pixel_app: FastAPI, db: Database, headers: dict[str, str]
) -> None:
    cid = _campaign(client, headers)
    tag = Tag(client, cid)
    tag.impression("impression-x")
    tag.event("impression-x", "clicked")  # not an event the tag sends
    tag.send({"iid": "x", "ev": "viewable"})  # impression id too short to be the tag's
    tag.send({"iid": "<script>alert(1)</script>", "ev": "measurable"})
    result = _flush(pixel_app)
    assert result.counted == 1
    assert result.rejected["bad_view_event"] == 3
    assert _counters(db, cid) == (0, 0)


def test_events_of_unknown_campaigns_are_dropped(
    client: TestClient, pixel_app: FastAPI, db: Database, headers: dict[str, str]
) -> None:
    _campaign(client, headers)
    Tag(client, 999_999).event("impression-z", "viewable")
    _flush(pixel_app)
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(PixelImpressionView)) == 0


def test_join_state_is_pruned_and_late_events_never_count(
    client: TestClient, pixel_app: FastAPI, db: Database, headers: dict[str, str]
) -> None:
    cid = _campaign(client, headers)
    tag = Tag(client, cid)
    tag.event("impression-late", "viewable")
    _flush(pixel_app)
    with db.transaction() as session:
        later = utcnow() + viewability.STATE_TTL + dt.timedelta(minutes=1)
        assert viewability.prune(session, now=later) == 1
    tag.impression("impression-late")  # its event was forgotten with the state
    _flush(pixel_app)
    assert _counters(db, cid) == (0, 0)


def test_campaign_report_shows_measured_viewability(
    client: TestClient,
    pixel_app: FastAPI,
    db: Database,
    settings: Settings,
    headers: dict[str, str],
) -> None:
    cid = _campaign(client, headers)
    tag = Tag(client, cid)
    for n in range(4):
        tag.impression(f"impression-{n}")
        tag.event(f"impression-{n}", "measurable")
    tag.event("impression-0", "viewable")
    for _ in range(2):  # the image tag alone: unmeasurable
        response = client.get(
            f"/px/{cid}.gif", params={"url": PAGE}, headers={"User-Agent": CHROME}
        )
        assert response.status_code == 200
    _flush(pixel_app)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    measured = {"measurable_impressions": 4, "viewable_impressions": 1, "viewability_rate": 0.25}
    done = _report(client, db, settings, headers, cid, today, dimensions=["domain"])
    assert done["summary"]["impressions"] == 6
    assert {key: done["summary"][key] for key in measured} == measured
    assert done["data"] == [{"domain": "nytimes.com", "impressions": 6, **measured}]
    # The stats API (and the console dashboard that shows it) reads the same counters.
    stats = client.get(
        f"/v1/pixel/campaigns/{cid}/stats", params={"start_date": today, "end_date": today},
        headers=headers,
    ).json()  # fmt: skip
    assert {key: stats["totals"][key] for key in measured} == measured
    filtered = client.get(
        f"/v1/pixel/campaigns/{cid}/stats",
        params={"start_date": today, "end_date": today, "domain": "bbc.com"}, headers=headers,
    ).json()  # fmt: skip
    assert filtered["totals"]["measurable_impressions"] == 0
    assert filtered["totals"]["viewability_rate"] is None
    # Rows shaped in Python (classification lookups) carry the same measures.
    done = _report(
        client, db, settings, headers, cid, today, dimensions=["date", "url"],
        include_classification=True,
    )  # fmt: skip
    assert done["data"] == [
        {"date": today, "url": PAGE, "impressions": 6, **measured,
         "classification": None},
    ]  # fmt: skip


def _report(
    client: TestClient,
    db: Database,
    settings: Settings,
    headers: dict[str, str],
    cid: int,
    day: str,
    **extra: Any,
) -> dict[str, Any]:
    body = {"campaign_id": cid, "start_date": day, "end_date": day, **extra}
    created = client.post("/v1/pixel/reports/campaign", json=body, headers=headers)
    assert created.status_code == 201, created.text
    run_worker(db, settings)
    done: dict[str, Any] = client.get(
        f"/v1/pixel/reports/campaign/{created.json()['id']}", headers=headers
    ).json()
    assert done["status"] == "complete", done
    return done


@pytest.mark.parametrize("first", ["impression", "event"])
def test_two_flushers_holding_the_two_halves_count_the_pair_once(
    client: TestClient, db: Database, headers: dict[str, str], first: str
) -> None:
    """The join's upsert locks the impression id's row: the second flusher waits for the first
    to commit and then sees both halves, whichever half the first one held."""
    cid = _campaign(client, headers)
    key = RollupKey(cid, dt.date(2026, 1, 15), "nytimes.com", "https://nytimes.com/a", "desktop")
    impression, event = viewability.SegmentViews(), viewability.SegmentViews()
    impression.add(viewability.TagFields(cid, "impression-pair", None), key)
    event.add(viewability.TagFields(cid, "impression-pair", "viewable"))
    halves = [impression, event] if first == "impression" else [event, impression]
    holding, counted = threading.Event(), []

    def flusher(views: viewability.SegmentViews, hold: bool) -> None:
        with db.transaction() as session:
            counted.append(viewability.record(session, views))
            if hold:
                holding.set()
                time.sleep(0.5)  # the other flusher's upsert waits on this row meanwhile

    holder = threading.Thread(target=flusher, args=(halves[0], True))
    holder.start()
    assert holding.wait(10)
    flusher(halves[1], False)
    holder.join()
    assert counted[0] == viewability.Counted(0, 0)  # the first half alone counts nothing
    assert counted[1] == viewability.Counted(1, 1)
    assert _counters(db, cid) == (1, 1)
