"""Rollup increments are atomic upserts: repeated batches add up, distinct dimensions stay apart."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import select

from beacon.core.db import Database
from beacon.pixel import repository as pixel_repository
from beacon.pixel.models import (
    PixelCampaign,
    PixelRollup,
    PixelSiteDay,
    PixelUrlDay,
    PixelUrlMonth,
)
from beacon.pixel.rollups import RollupKey, canonical_macros, increment


def campaign(db: Database, key_for: Callable[[str], str]) -> int:
    key_for("acme")
    with db.transaction() as session:
        row = PixelCampaign(account_id=1, name="c", use_case="campaign_reporting")
        session.add(row)
        session.flush()
        return row.id


def test_increments_add_up_per_dimension_combination(
    db: Database, key_for: Callable[[str], str]
) -> None:
    cid = campaign(db, key_for)
    day = dt.date(2026, 1, 15)
    nyt = RollupKey(
        cid,
        day,
        "nytimes.com",
        "https://nytimes.com/a",
        "desktop",
        "US",
        macros=canonical_macros({"site": "nytimes.com"}),
    )
    bot = RollupKey(
        cid, day, "nytimes.com", "https://nytimes.com/a", "desktop", "US", "bot", "Googlebot"
    )
    with db.transaction() as session:
        increment(session, {nyt: 3, bot: 1})
    with db.transaction() as session:
        increment(session, {nyt: 2})
    with db.transaction() as session:
        rows = {
            (r.traffic_type, r.agent): (r.hits, r.macros)
            for r in session.scalars(select(PixelRollup))
        }
    assert rows == {("human", ""): (5, '{"site":"nytimes.com"}'), ("bot", "Googlebot"): (1, "")}


def varied_keys(cid: int) -> dict[RollupKey, int]:
    """Keys over a month boundary, every traffic type, macros, misrepresentation, IVT
    reasons, a domain and an agent over their column widths, and zero counts."""
    days = [dt.date(2026, 2, 28), dt.date(2026, 3, 1), dt.date(2026, 3, 2)]
    keys = {}
    for i in range(240):
        domain = "d" * 300 + ".com" if i % 37 == 0 else f"site{i % 7}.com"
        keys[
            RollupKey(
                cid, days[i % 3], domain, f"https://{domain}/p{i % 11}",
                ("desktop", "mobile")[i % 2], ("US", "", "DE")[i % 3],
                ("human", "bot", "ai_agent", "human")[i % 4],
                ("", "Googlebot", "G" * 150)[i % 3] if i % 4 else "",
                canonical_macros({"creative_id": str(i % 5)}) if i % 2 else "",
                i % 9 == 0, "datacenter" if i % 4 == 1 else "",
            )
        ] = i % 6  # fmt: skip
    return keys


def rows_digest(db: Database) -> str:
    """sha256 of every rollup table's rows (all but ids and times), in a stable order."""
    columns = {
        PixelRollup: ("date", "dims_hash", "domain", "url", "device", "geo", "traffic_type",
                      "agent", "macros", "misrepresented", "ivt_reason", "hits"),
        PixelSiteDay: ("date", "dims_hash", "domain", "macros", "misrepresented", "human", "bot",
                       "ai_agent"),
        PixelUrlDay: ("date", "dims_hash", "domain", "url", "macros", "misrepresented", "human"),
        PixelUrlMonth: ("month", "dims_hash", "domain", "url", "macros", "misrepresented",
                        "human"),
    }  # fmt: skip
    digest = hashlib.sha256()
    with db.transaction() as session:
        for model, names in columns.items():
            found = session.execute(select(*(getattr(model, name) for name in names))).all()
            digest.update(repr(sorted(tuple(map(str, row)) for row in found)).encode())
    return digest.hexdigest()


# What the flusher's rollup code wrote for `varied_keys` before session 8 rewrote it to build
# tuples (docs/benchmarks.md): any change to a row, a hash or a sum changes this.
WRITTEN_BEFORE = "1417a50bddf61fec6511a3935107261541b9255735169414020348b6cd9a7b8b"


def test_rollup_rows_and_hashes_are_those_written_before(
    db: Database, key_for: Callable[[str], str]
) -> None:
    cid = campaign(db, key_for)
    for _ in range(2):
        with db.transaction() as session:
            increment(session, varied_keys(cid))
    assert rows_digest(db) == WRITTEN_BEFORE


def test_cursor_readers_never_skip_a_flush_that_commits_late(
    db: Database, key_for: Callable[[str], str]
) -> None:
    """A flush that took a lower rollup id but commits after another flush is still read by
    the inventory's and the classifier's cursors (on PostgreSQL the later id was visible
    first, the cursor moved past the slower flush's row and its URL never reached the
    inventory nor the classification queue)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: its rollup ids become visible in order")
    cid = campaign(db, key_for)
    day = dt.date(2026, 1, 15)
    slow = db.sessions()  # a flusher whose transaction is still open
    increment(slow, {RollupKey(cid, day, "a.com", "https://a.com/slow"): 1})
    slow.flush()
    with db.transaction() as session:  # another flusher, later id, commits first
        increment(session, {RollupKey(cid, day, "b.com", "https://b.com/fast"): 1})
    read: dict[str, list[str]] = {}

    def read_cursors() -> None:
        with db.transaction() as session:
            read["account"] = [
                url
                for _, url, _ in pixel_repository.account_page_urls_after(
                    session, account_id=1, after_id=0, limit=100
                )
            ]
            read["all"] = [
                url
                for _, url, _ in pixel_repository.page_urls_after(session, after_id=0, limit=100)
            ]

    reader = threading.Thread(target=read_cursors)
    reader.start()
    reader.join(timeout=1)  # it waits for the open flush (without the fix it returns at once)
    slow.commit()
    slow.close()
    reader.join(timeout=30)
    expected = ["https://a.com/slow", "https://b.com/fast"]
    assert (read["account"], read["all"]) == (expected, expected)
