"""Migration 0209: rows stored under a raw path ('/ü', '/a"b') or a lower-case escape
('/%c3%bc') are re-keyed to the path a browser sends ('/%C3%BC'), in the store, the inventory
and segment members; a row whose new key is taken is merged into it (the newest classification
kept, an account's older inventory row kept, a segment's duplicate member dropped and its
counts recounted)."""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from alembic import command
from sqlalchemy import Connection, event, insert, select, text
from tests.migrations import alembic_config, scratch_database

from beacon.activation.inventory import service as inventory_service
from beacon.activation.models import InventoryUrl, Segment, SegmentUrl
from beacon.contextual.classification_repository import (
    classifications_for_urls,
    lookup_hashes,
    root_dot_key,
    stored_key,
)
from beacon.contextual.models import OK, PENDING, UrlClassification
from beacon.core.db import Database, make_engine

migration = importlib.import_module("beacon.migrations.versions.0209_unicode_path_keys")
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)

U_RAW, U = stored_key("https://example.com/ü"), stored_key("https://example.com/%C3%BC")
V_LOWER, V = stored_key("https://example.com/v%Af"), stored_key("https://example.com/v%AF")
V_MIXED = stored_key("https://example.com/v%aF")
W_RAW, W = stored_key("https://example.com/w/ü"), stored_key("https://example.com/w/%C3%BC")
D_RAW = stored_key("https://example.com./d/ü")  # stored before the root dot was dropped
D_DOT = stored_key("https://example.com./d/%C3%BC")
D = stored_key("https://example.com/d/%C3%BC")
X = stored_key("https://example.com:99999/ü")  # no URL: url_key keeps such a text as given
A = stored_key("https://example.com/a")
Q_RAW = stored_key('https://example.com/q/"x"{y}`<z>^')  # ASCII a browser escapes ('^' it keeps)
Q = stored_key("https://example.com/q/%22x%22%7By%7D%60%3Cz%3E^")
S_RAW, S = stored_key("https://example.com/a b/c"), stored_key("https://example.com/a%20b/c")
# A dotted Unicode host stored before hosts were keyed in IDNA (and before the dot was dropped)
H_RAW = stored_key("https://bücher.de./ü")
H = stored_key("https://xn--bcher-kva.de/%C3%BC")
RAW_KEYS = (U_RAW, V_LOWER, V_MIXED, W_RAW, D_RAW, Q_RAW, S_RAW, H_RAW)


@pytest.fixture
def old_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    with scratch_database(database_url, tmp_path, "m0209") as url:
        yield url


def _store(conn: Connection, key: tuple[str, str], status: str, days: int | None) -> None:
    when = None if days is None else T0 + timedelta(days=days)
    payload = None if when is None else orjson.dumps({"iab_categories": [], "keywords": [key[0]]})
    conn.execute(
        insert(UrlClassification.__table__).values(
            url=key[0], url_hash=key[1], domain="example.com", status=status, attempts=0,
            classification=None if payload is None else payload.decode(), classified_at=when,
            created_at=T0 + timedelta(days=days or 0),
        )
    )  # fmt: skip


def _inventory(
    conn: Connection, account_id: int, key: tuple[str, str], days: int, source: str
) -> int:
    row = conn.execute(
        insert(InventoryUrl.__table__)
        .values(
            account_id=account_id, url=key[0], url_hash=key[1], domain="example.com",
            source=source, created_date=T0 + timedelta(days=days),
        )
        .returning(InventoryUrl.__table__.c.id)
    )  # fmt: skip
    return int(row.scalar_one())


def _segment(conn: Connection, account_id: int, members: list[tuple[str, str]]) -> int:
    segment_id = conn.execute(
        insert(Segment.__table__)
        .values(
            account_id=account_id, name="s", rules="{}", status="complete", attempts=0,
            url_count=len(members), domain_count=1,
            top_domains=orjson.dumps([{"domain": "example.com", "url_count": len(members)}]).decode(),
            last_updated_date=T0, created_date=T0,
        )
        .returning(Segment.__table__.c.id)
    ).scalar_one()  # fmt: skip
    for key in members:
        conn.execute(
            insert(SegmentUrl.__table__).values(
                segment_id=segment_id, url=key[0], url_hash=key[1], domain="example.com"
            )
        )
    return int(segment_id)


def _seed(conn: Connection) -> dict[str, int]:
    for account_id in (1, 2):
        conn.execute(
            text("INSERT INTO accounts (id, name, created_at) VALUES (:i, :n, '2026-01-01')"),
            {"i": account_id, "n": f"a{account_id}"},
        )
    _store(conn, U_RAW, OK, 0)  # classified from an upload; a pixel's spelling queued since
    _store(conn, U, PENDING, None)
    _store(conn, V_LOWER, OK, 0)
    _store(conn, W, OK, 3)  # both classified: the escaped row's is newer
    _store(conn, W_RAW, OK, 1)
    _store(conn, D_RAW, OK, 0)
    _store(conn, X, OK, 0)
    _store(conn, A, OK, 0)
    _store(conn, V_MIXED, PENDING, None)  # the same page as V_LOWER, in the same batch
    _store(conn, Q_RAW, OK, 0)
    _store(conn, S_RAW, OK, 0)
    return {
        "1u_raw": _inventory(conn, 1, U_RAW, 0, "upload"),
        "1u": _inventory(conn, 1, U, 2, "pixel"),
        "1v": _inventory(conn, 1, V_LOWER, 0, "pixel"),
        "1d_raw": _inventory(conn, 1, D_RAW, 0, "pixel"),
        "1d": _inventory(conn, 1, D, 1, "upload"),
        "1a": _inventory(conn, 1, A, 0, "upload"),
        "1q_raw": _inventory(conn, 1, Q_RAW, 0, "upload"),
        "1h_raw": _inventory(conn, 1, H_RAW, 0, "pixel"),
        "1h": _inventory(conn, 1, H, 1, "upload"),
        "2u": _inventory(conn, 2, U, 0, "pixel"),
        "2x": _inventory(conn, 2, X, 0, "upload"),
        "s_both": _segment(conn, 1, [U_RAW, U, V_LOWER, V_MIXED, A]),
        "s_raw": _segment(conn, 1, [U_RAW]),
    }


def _rows(conn: Connection, table: Any) -> dict[Any, dict[str, Any]]:
    return {row.id: row._asdict() for row in conn.execute(select(table).order_by(table.c.id))}


def test_upgrade_re_keys_raw_paths_everywhere(old_url: str) -> None:
    config = alembic_config(old_url)
    command.upgrade(config, "0208_console_form_nonces")
    command.upgrade(config, "0300_activation")  # a database from before 0209
    engine = make_engine(old_url)
    try:
        with engine.begin() as conn:
            ids = _seed(conn)
        command.upgrade(config, "heads")
        with engine.begin() as conn:
            _check_re_keyed(conn, ids)
    finally:
        engine.dispose()


def test_re_keying_reads_each_table_in_batches_and_twice_changes_nothing(db: Database) -> None:
    with db.engine.begin() as conn:
        ids = _seed(conn)
        done = migration.rekey_unicode_paths(conn, batch=1)
        assert done == {"store": 7, "inventory": 5, "members": 4, "root_dot": 2}
        _check_re_keyed(conn, ids)
        assert set(migration.rekey_unicode_paths(conn).values()) == {0}
    with db.transaction() as session:  # each page is found, and counted once, by any spelling
        assert classifications_for_urls(session, ["https://Example.com/ü#x"])[
            "https://Example.com/ü#x"
        ]["keywords"] == [U_RAW[0]]
        spellings = [U_RAW[0], U[0], V_LOWER[0], V[0], D_RAW[0], D[0], "https://example.com/d/ü"]
        spellings += [Q_RAW[0], Q[0], H_RAW[0], "https://bücher.de/%c3%bc"]
        added = inventory_service.add_urls(
            session=session, account_id=1, labelled_urls=[(u, u) for u in spellings]
        )
        assert added.added == 0
        page = inventory_service.browse_inventory(session=session, account_id=1, limit=10, offset=0)
        assert page.total == 6
        assert {item.url: item.status for item in page.items}[U[0]] == "ok"
        for spelling in spellings:
            found = inventory_service.get_inventory_url(session=session, account_id=1, url=spelling)
            assert found in (U[0], V[0], D_DOT[0], Q[0], H[0])
    # What reports' brand-safety filter and the inventory's root-dot reads try lead to the rows
    assert lookup_hashes("https://example.com/%c3%bc")[0] == U[1]
    assert lookup_hashes("https://example.com./d/ü") == [D[1], D_DOT[1]]
    assert root_dot_key("https://example.com/d/ü") == D_DOT


def test_the_migration_keeps_its_own_copy_of_the_key_rule(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The application's rule may change after 0209: the migration re-keys as it did when written.
    def changed(*args: object, **kwargs: object) -> str:
        raise AssertionError("the migration called the application's URL rule")

    for name in ("normalize_url", "canonical_path", "_normalized", "older_url_keys"):
        monkeypatch.setattr(f"beacon.core.urls.{name}", changed)
    with db.engine.begin() as conn:
        ids = _seed(conn)
        migration.rekey_unicode_paths(conn)
        _check_re_keyed(conn, ids)


class _Statements:
    """How many statements (an executemany is one) an engine sends."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *args: object) -> None:
        self.count += 1


def test_many_candidates_are_re_keyed_a_batch_at_a_time(db: Database) -> None:
    # WordPress slugs ('/%e6%97%a5') keep their lower-case escapes in location.href: a store may
    # hold millions. Some pages were also stored raw ('/日', the next row: the same batch), some
    # under the new key already, some both.
    n, batch = 600, 100
    lower = [stored_key(f"https://example.com/p{i}/%e6%97%a5") for i in range(n)]
    raw = [stored_key(f"https://example.com/p{i}/日") for i in range(n)]
    new = [stored_key(f"https://example.com/p{i}/%E6%97%A5") for i in range(n)]
    twins, taken = set(range(0, n, 7)), set(range(0, n, 10))  # both: 0, 70, 140, ...
    with db.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO accounts (id, name, created_at) VALUES (1, 'a', '2026-01-01')")
        )
        store: dict[tuple[int, str], int] = {}
        inventory: dict[tuple[int, str], int] = {}
        for i in range(n):
            # the lower-case row pending, the raw twin classified, the new key's the newest
            _store(conn, lower[i], PENDING, None)
            inventory[(i, "lower")] = _inventory(conn, 1, lower[i], 2, "pixel")
            if i in twins:
                _store(conn, raw[i], OK, 1)
                inventory[(i, "raw")] = _inventory(conn, 1, raw[i], 1, "upload")
            if i in taken:
                _store(conn, new[i], OK, 3)
                inventory[(i, "new")] = _inventory(conn, 1, new[i], 3, "pixel")
        for row in conn.execute(select(UrlClassification.__table__)):
            i = int(row.url.split("/")[3][1:])
            kind = "new" if row.url == new[i][0] else "raw" if row.url == raw[i][0] else "lower"
            store[(i, kind)] = row.id
        members = [*lower, *(raw[i] for i in twins), *(new[i] for i in taken)]
        segment_id = _segment(conn, 1, members)

        statements = _Statements()
        event.listen(db.engine, "before_cursor_execute", statements)
        try:
            done = migration.rekey_unicode_paths(conn, batch=batch)
        finally:
            event.remove(db.engine, "before_cursor_execute", statements)
        candidates = n + len(twins)
        assert done == {"store": candidates, "inventory": candidates, "members": candidates,
                        "root_dot": 0}  # fmt: skip
        # Each batch of a table: its candidates, one IN query, a delete and two executemanys
        # (and the searches that end each table, the recount, 0206's merge): not ~3 a row.
        batches = sum(-(-count // batch) for count in (candidates,) * 3)
        assert statements.count <= 6 * batches + 20, statements.count

        kept_store = {
            row.url_hash: row for row in conn.execute(select(UrlClassification.__table__))
        }
        assert set(kept_store) == {key[1] for key in new}
        kept_inventory = {row.url_hash: row for row in conn.execute(select(InventoryUrl.__table__))}
        assert set(kept_inventory) == {key[1] for key in new}
        for i in range(n):
            # the newest classification: the new key's, else the raw twin's (pending otherwise)
            row = kept_store[new[i][1]]
            kind = "new" if i in taken else "raw" if i in twins else "lower"
            assert (row.id, row.url) == (store[(i, kind)], new[i][0])
            assert row.status == (PENDING if kind == "lower" else OK)
            assert row.created_at == T0  # the lower-case row's, the first
            # the account's oldest row: the raw twin's (uploaded), else the lower-case one's
            item = kept_inventory[new[i][1]]
            oldest = "raw" if i in twins else "lower"
            assert (item.id, item.url) == (inventory[(i, oldest)], new[i][0])
            assert item.source == ("upload" if i in twins else "pixel")
            assert item.created_date == T0 + timedelta(days=1 if i in twins else 2)
        segment_members = conn.execute(
            select(SegmentUrl.__table__.c.url_hash).where(
                SegmentUrl.__table__.c.segment_id == segment_id
            )
        ).scalars()
        assert sorted(segment_members) == sorted(key[1] for key in new)
        recounted = conn.execute(
            select(Segment.__table__.c.url_count).where(Segment.__table__.c.id == segment_id)
        ).scalar_one()
        assert recounted == n


def _check_re_keyed(conn: Connection, ids: dict[str, int]) -> None:
    tables = (UrlClassification.__table__, InventoryUrl.__table__, SegmentUrl.__table__)
    for table in tables:  # no row left under a raw key, each under its own URL's hash
        for row in _rows(conn, table).values():
            assert (row["url"], row["url_hash"]) not in RAW_KEYS
            assert row["url_hash"] == hashlib.sha1(row["url"].encode()).hexdigest()
    store = {row["url_hash"]: row for row in _rows(conn, UrlClassification.__table__).values()}
    assert set(store) == {U[1], V[1], W[1], D_DOT[1], X[1], A[1], Q[1], S[1]}
    # The newest classification is kept under the new key: the raw row's (the other pending)...
    assert (store[U[1]]["url"], store[U[1]]["status"]) == (U[0], OK)
    assert orjson.loads(store[U[1]]["classification"])["keywords"] == [U_RAW[0]]
    # ...the escaped row's when both were classified, the later one
    assert orjson.loads(store[W[1]]["classification"])["keywords"] == [W[0]]
    assert store[W[1]]["created_at"] == T0 + timedelta(days=1)
    assert (store[V[1]]["url"], store[V[1]]["status"]) == (V[0], OK)  # '%Af' and '%aF' one row
    assert (store[Q[1]]["url"], store[S[1]]["url"]) == (Q[0], S[0])
    assert store[D_DOT[1]]["url"] == D_DOT[0]  # the root dot kept: readers try that key
    assert store[X[1]]["url"] == X[0]

    inventory = _rows(conn, InventoryUrl.__table__)
    assert set(inventory) == {
        ids[n] for n in ("1u_raw", "1v", "1d_raw", "1a", "1q_raw", "1h_raw", "2u", "2x")
    }
    kept = inventory[ids["1u_raw"]]  # the older row, under the new key, uploaded, first seen
    assert (kept["url"], kept["url_hash"], kept["source"]) == (U[0], U[1], "upload")
    assert kept["created_date"] == T0
    assert (inventory[ids["1v"]]["url"], inventory[ids["1v"]]["url_hash"]) == V
    # The dotted raw row became the plain row's page: 0206's merge, keyed as the store writes it
    dotted = inventory[ids["1d_raw"]]
    assert (dotted["url"], dotted["url_hash"], dotted["source"]) == (*D_DOT, "upload")
    assert (inventory[ids["2u"]]["url_hash"], inventory[ids["2x"]]["url_hash"]) == (U[1], X[1])
    assert (inventory[ids["1q_raw"]]["url"], inventory[ids["1q_raw"]]["source"]) == (Q[0], "upload")
    # A dotted Unicode host's row, re-keyed, is its IDNA plain row's page (0206's normalisation)
    unicode_host = inventory[ids["1h_raw"]]
    assert (unicode_host["url"], unicode_host["source"]) == (H[0], "upload")

    members: dict[int, set[str]] = {}
    for member in _rows(conn, SegmentUrl.__table__).values():
        members.setdefault(member["segment_id"], set()).add(member["url"])
    assert members == {ids["s_both"]: {U[0], V[0], A[0]}, ids["s_raw"]: {U[0]}}
    segments = _rows(conn, Segment.__table__)
    both = segments[ids["s_both"]]
    assert (both["url_count"], both["domain_count"]) == (3, 1)
    assert orjson.loads(both["top_domains"]) == [{"domain": "example.com", "url_count": 3}]
    assert segments[ids["s_raw"]]["url_count"] == 1


def test_the_sqlite_prefilter_finds_a_key_holding_a_nul() -> None:
    # SQLite's GLOB stops reading a text at a NUL: a key with one after its last printable
    # character escaped the filter (PostgreSQL can not store a NUL).
    import sqlalchemy as sa

    engine = sa.create_engine("sqlite://")
    keys = sa.table("keys", sa.column("url", sa.String))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE keys (url TEXT)"))
        for url in ("https://example.com/a\x00ü", "https://example.com/plain"):
            conn.execute(insert(keys).values(url=url))
        found = conn.scalars(select(keys.c.url).where(migration._maybe_raw(conn, keys.c.url)))
        assert list(found) == ["https://example.com/a\x00ü"]
    assert migration.new_key("https://example.com/a\x00ü") is not None
