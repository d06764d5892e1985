"""Rollup increments are atomic upserts: repeated batches add up, distinct dimensions stay apart."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import select

from beacon.core.db import Database
from beacon.pixel.models import PixelCampaign, PixelRollup
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
