"""core.db helpers on both databases."""

from __future__ import annotations

from sqlalchemy import insert, literal, select, update

from beacon.core.db import Database, rowcount, upsert_insert
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


def test_upsert_insert_does_nothing_or_updates_on_conflict_in_either_dialect(
    db: Database,
) -> None:
    with db.transaction() as session:
        session.execute(upsert_insert(session, Account).values(name="acme"))
        skipped = rowcount(
            session,
            upsert_insert(session, Account)
            .values(name="acme")
            .on_conflict_do_nothing(index_elements=["name"]),
        )
        statement = upsert_insert(session, Account).values([{"name": "acme"}, {"name": "new"}])
        renamed = session.execute(
            statement.on_conflict_do_update(
                index_elements=["name"], set_={"name": statement.excluded.name + literal("-again")}
            ).returning(Account.name)
        ).scalars()
        names = sorted(renamed)
    with db.transaction() as session:
        stored = sorted(session.scalars(select(Account.name)))
    assert skipped == 0
    assert names == ["acme-again", "new"]
    assert stored == ["acme-again", "new"]
