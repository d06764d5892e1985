"""core.db helpers on both databases."""

from __future__ import annotations

from sqlalchemy import insert, literal, select, update

from beacon.core.db import Database, rowcount
from beacon.core.models import Account


def test_rowcount_counts_inserted_updated_and_skipped_rows(db: Database) -> None:
    # SQLAlchemy 2.1 answers -1 for an INSERT's rowcount on PostgreSQL unless asked to keep it
    with db.transaction() as session:
        inserted = rowcount(session, insert(Account).values([{"name": "a"}, {"name": "b"}]))
        copied = rowcount(
            session,
            insert(Account).from_select(["name"], select(Account.name + literal("-copy"))),
        )
        renamed = rowcount(session, update(Account).where(Account.name == "a").values(name="z"))
        none = rowcount(session, update(Account).where(Account.name == "missing").values(name="y"))
    assert (inserted, copied, renamed, none) == (2, 2, 1, 0)
