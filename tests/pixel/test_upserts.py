"""Batched upserts: one statement per table whatever the batch size, and exact sums."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, func, select

from beacon.core.db import Database
from beacon.pixel.models import PixelCampaign, PixelRollup, PixelSiteDay, PixelUrlDay
from beacon.pixel.rollups import RollupKey, increment
from beacon.pixel.upserts import add_rows, unique_key

DAY = dt.date(2026, 3, 2)


def new_campaign(db: Database) -> int:
    with db.transaction() as session:
        row = PixelCampaign(account_id=1, name="c", use_case="campaign_reporting")
        session.add(row)
        session.flush()
        return row.id


def page_hits(campaign_id: int, pages: int, hits: int = 1) -> dict[RollupKey, int]:
    return {
        RollupKey(campaign_id, DAY, f"site{i % 40}.com", f"https://site{i % 40}.com/{i}"): hits
        for i in range(pages)
    }


def statements_of(db: Database, work: Callable[[], None]) -> list[str]:
    """The SQL texts sent to the driver while ``work`` runs (one entry per execute call)."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        work()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return sent


def test_batch_size_does_not_change_the_statements(
    db: Database, key_for: Callable[[str], str]
) -> None:
    key_for("acme")
    campaign_id = new_campaign(db)

    def flush(pages: int) -> Callable[[], None]:
        def run() -> None:
            with db.transaction() as session:
                increment(session, page_hits(campaign_id, pages))

        return run

    small = [s for s in statements_of(db, flush(3)) if "INSERT" in s]
    large = [s for s in statements_of(db, flush(2_500)) if "INSERT" in s]
    # One statement per rollup table, the same text for 3 rows and for 2,500 rows, so it is
    # compiled (and on PostgreSQL prepared) once rather than per batch.
    assert len(small) == 4
    assert large == small
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(PixelRollup)) == 2_500
        assert session.scalar(select(func.sum(PixelRollup.hits))) == 2_503
        assert session.scalar(select(func.sum(PixelUrlDay.human))) == 2_503
        assert session.scalar(select(func.count()).select_from(PixelSiteDay)) == 40


def test_repeated_large_batches_add_up_exactly(db: Database, key_for: Callable[[str], str]) -> None:
    key_for("acme")
    campaign_id = new_campaign(db)
    for hits in (1, 2, 4):
        with db.transaction() as session:
            increment(session, page_hits(campaign_id, 1_200, hits))
    with db.transaction() as session:
        per_row = set(session.scalars(select(PixelRollup.hits)))
        site_days = session.execute(select(PixelSiteDay.domain, PixelSiteDay.human)).all()
    assert per_row == {7}
    assert sorted(site_days) == sorted((f"site{i}.com", 30 * 7) for i in range(40))


def test_add_rows_writes_whatever_columns_the_rows_carry(
    db: Database, key_for: Callable[[str], str]
) -> None:
    key_for("acme")
    campaign_id = new_campaign(db)
    table = PixelUrlDay.__table__
    assert unique_key(table) == ("campaign_id", "dims_hash")  # type: ignore[arg-type]

    # No `domain`/`macros`/`misrepresented`: columns left out take their defaults.
    # The unique key (campaign_id, dims_hash) not leading: the rows are sorted by a key.
    columns = ("date", "dims_hash", "url", "campaign_id", "human")

    def rows(human: int) -> list[tuple[object, ...]]:
        return [(DAY, f"h{i}", f"/{i}", campaign_id, human) for i in (2, 0, 1)]

    with db.transaction() as session:
        add_rows(session, table, columns, rows(2), measures=("human",))  # type: ignore[arg-type]
        add_rows(session, table, columns, rows(5), measures=("human", "absent"))  # type: ignore[arg-type]
    with db.transaction() as session:
        found = session.execute(select(PixelUrlDay.url, PixelUrlDay.human, PixelUrlDay.domain))
        assert sorted(found) == [("/0", 7, ""), ("/1", 7, ""), ("/2", 7, "")]
