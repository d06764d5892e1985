"""The URL totals of a top-URL search take every candidate the search lists: up to 10,240 a
list and 12 lists, past the 65,535 parameters PostgreSQL takes in a statement, which bound one
parameter a URL (``number of parameters must be between 0 and 65535``)."""

from __future__ import annotations

import datetime as dt

from beacon.core.db import Database
from beacon.pixel.stats import summary_repository as repository
from beacon.pixel.stats.repository import Scope

CANDIDATES = 66_000  # past 65,535
DAY = dt.date(2026, 11, 2)


def test_url_totals_take_more_candidates_than_one_statement(db: Database) -> None:
    scope = Scope(campaign_id=1, start=DAY, end=DAY)
    urls = [f"https://news.example/{n}" for n in range(CANDIDATES)]
    hashes = sorted(repository.url_hash(url) for url in urls)
    whole = repository.Part(span="whole", periods=(dt.date(1970, 1, 1),))
    with db.transaction() as session:
        assert repository.url_summary(session, scope=scope, part=whole, hashes=hashes) == {}
        assert repository.url_days(session, scope=scope, days=[DAY], urls=urls) == {}
        geo = Scope(campaign_id=1, start=DAY, end=DAY, countries=("FR",))
        assert repository.url_days(session, scope=geo, days=[DAY], urls=urls) == {}
