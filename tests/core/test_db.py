"""core.db helpers on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Table, bindparam, insert, literal, select, update

from beacon.core.db import Database, executemany, rowcount, upsert_insert
from beacon.core.models import Account

_accounts: Table = Account.__table__  # type: ignore[assignment]
_RENAME = (
    update(_accounts)
    .where(_accounts.c.name == bindparam("old", type_=_accounts.c.name.type), _accounts.c.id > 0)
    .values(
        name=bindparam("new", type_=_accounts.c.name.type),
        created_at=bindparam("when", type_=_accounts.c.created_at.type),
    )
)


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


def test_executemany_converts_constants_once_and_rows_as_sqlalchemy_would(db: Database) -> None:
    # a timestamp in another zone goes through UTCDateTime (UTC, naive on SQLite) exactly as
    # an ORM write does, so it reads back equal and sorts with ORM-written rows
    when = datetime(2026, 3, 1, 14, 30, 5, 123456, tzinfo=timezone(timedelta(hours=2)))
    with db.transaction() as session:
        session.add_all([Account(name=n) for n in ("a", "b", "c")])
    with db.transaction() as session:
        renames = [{"old": "a", "new": "a2"}, {"old": "b", "new": "b2"}]
        executemany(session, _RENAME, renames, when=when)
        executemany(session, _RENAME, [], when=when)  # nothing to do
    with db.transaction() as session:
        rows = dict(session.execute(select(Account.name, Account.created_at)).all())
        later = session.scalars(
            select(Account.name).where(Account.created_at >= when).order_by(Account.name)
        ).all()
    assert set(rows) == {"a2", "b2", "c"}
    assert rows["a2"] == rows["b2"] == when.astimezone(UTC)
    assert rows["c"] != when
    assert later == ["a2", "b2", "c"]  # c was created now, after `when`
