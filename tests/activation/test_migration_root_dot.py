"""Migration 0206: an account's inventory rows of one page under its host's root dot and under
its plain spelling become one row (the older, with the newer's upload source and first-seen
date, keyed as the store writes the page), its segments' members follow, nothing else moves."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from alembic import command
from sqlalchemy import Connection, insert, select, text
from tests.migrations import alembic_config, scratch_database

from beacon.activation.inventory import service as inventory_service
from beacon.activation.models import InventoryUrl, Segment, SegmentUrl
from beacon.contextual.classification_repository import stored_key
from beacon.contextual.models import OK, UrlClassification
from beacon.core.db import Database, make_engine
from beacon.core.urls import normalize_url

migration = importlib.import_module("beacon.migrations.versions.0206_activation_root_dot")
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)

A_DOT, A = stored_key("https://example.com./a"), stored_key("https://example.com/a")
B_DOT, B = stored_key("https://news.example.org./b"), stored_key("https://news.example.org/b")
C_DOT = stored_key("https://shop.example.net.:8443/c")
C = stored_key("https://shop.example.net:8443/c")
D_DOT = stored_key("https://lone.example.com./d")  # no plain row anywhere
E = stored_key("https://example.com/e./f")  # a dot before a slash, in the path only


@pytest.fixture
def old_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of its own on the backend, empty (the migrations build it)."""
    with scratch_database(database_url, tmp_path, "m0206") as url:
        yield url


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


def _store(conn: Connection, key: tuple[str, str]) -> None:
    conn.execute(
        insert(UrlClassification.__table__).values(
            url=key[0], url_hash=key[1], domain="example.com", status=OK,
            classification='{"iab_categories":[]}', attempts=0, created_at=T0,
        )
    )  # fmt: skip


def _segment(conn: Connection, account_id: int, members: list[tuple[tuple[str, str], str]]) -> int:
    domains = [domain for _, domain in members]
    segment_id = conn.execute(
        insert(Segment.__table__)
        .values(
            account_id=account_id, name="s", rules="{}", status="complete", attempts=0,
            url_count=len(members), domain_count=len(set(domains)),
            top_domains=orjson.dumps([{"domain": d, "url_count": 1} for d in domains]).decode(),
            last_updated_date=T0, created_date=T0,
        )
        .returning(Segment.__table__.c.id)
    ).scalar_one()  # fmt: skip
    for key, domain in members:
        conn.execute(
            insert(SegmentUrl.__table__).values(
                segment_id=segment_id, url=key[0], url_hash=key[1], domain=domain
            )
        )
    return int(segment_id)


def _seed(conn: Connection) -> dict[str, int]:
    for account_id in (1, 2, 3, 4):
        conn.execute(
            text("INSERT INTO accounts (id, name, created_at) VALUES (:i, :n, '2026-01-01')"),
            {"i": account_id, "n": f"a{account_id}"},
        )
    for key in (A_DOT, A, B_DOT):  # page a: both store rows; page b: its dotted row only
        _store(conn, key)
    return {
        # account 1: a (dotted older), b (plain older), c with a port (neither stored)
        "1a_dot": _inventory(conn, 1, A_DOT, 0, "pixel"),
        "1a": _inventory(conn, 1, A, 5, "upload"),
        "1b": _inventory(conn, 1, B, 1, "pixel"),
        "1b_dot": _inventory(conn, 1, B_DOT, 6, "upload"),
        "1c_dot": _inventory(conn, 1, C_DOT, 2, "pixel"),
        "1c": _inventory(conn, 1, C, 7, "pixel"),
        # account 2: a (plain older, both uploaded)
        "2a": _inventory(conn, 2, A, 0, "upload"),
        "2a_dot": _inventory(conn, 2, A_DOT, 3, "upload"),
        # account 3: a's plain spelling only; account 4: unrelated rows
        "3a": _inventory(conn, 3, A, 0, "pixel"),
        "4a_dot": _inventory(conn, 4, A_DOT, 0, "pixel"),
        "1d_dot": _inventory(conn, 1, D_DOT, 0, "pixel"),
        "4e": _inventory(conn, 4, E, 0, "upload"),
        # segments: both rows of pages a, b and c (three members lost, one recount), a's dotted
        # row alone, b's dotted row, another account's
        "s_both": _segment(
            conn,
            1,
            [
                (A_DOT, "example.com"),
                (A, "example.com"),
                (B, "example.org"),
                (B_DOT, "example.org"),
                (C_DOT, "example.net"),
                (C, "example.net"),
                (E, "x.org"),
            ],
        ),
        "s_dot": _segment(conn, 1, [(A_DOT, "example.com")]),
        "s_b": _segment(conn, 1, [(B_DOT, "example.org")]),
        "s_other": _segment(conn, 4, [(A_DOT, "example.com")]),
    }


def _rows(conn: Connection, table: Any) -> dict[Any, tuple[Any, ...]]:
    return {row[0]: tuple(row) for row in conn.execute(select(table).order_by(table.c.id))}


Snapshot = dict[str, dict[Any, tuple[Any, ...]]]
TABLES = {
    "inventory": InventoryUrl.__table__,
    "store": UrlClassification.__table__,
    "members": SegmentUrl.__table__,
    "segments": Segment.__table__,
}


def _snapshot(conn: Connection) -> Snapshot:
    return {name: _rows(conn, table) for name, table in TABLES.items()}


def test_upgrade_merges_each_accounts_root_dot_rows(old_url: str) -> None:
    config = alembic_config(old_url)
    command.upgrade(config, "0205_contextual_site_holds")
    command.upgrade(config, "0300_activation")  # a database from before 0206
    engine = make_engine(old_url)
    try:
        with engine.begin() as conn:
            ids = _seed(conn)
            before = _snapshot(conn)
        command.upgrade(config, "heads")
        with engine.begin() as conn:
            after = _snapshot(conn)
    finally:
        engine.dispose()
    _check_merged(ids, before, after)


def test_merge_reads_the_inventory_in_batches(db: Database) -> None:
    """The same result when each batch of candidate rows holds one row."""
    with db.engine.begin() as conn:
        ids = _seed(conn)
        before = _snapshot(conn)
        assert migration.merge_root_dot_inventory(conn, batch=1) == 4
        after = _snapshot(conn)
    _check_merged(ids, before, after)
    spellings = [key[0] for key in (A_DOT, A, B_DOT, B, C_DOT, C)]
    with db.transaction() as session:  # the write paths find each merged row by either spelling
        added = inventory_service.add_urls(
            session=session, account_id=1, labelled_urls=[(u, u) for u in spellings]
        )
        assert added.added == 0
        page = inventory_service.browse_inventory(session=session, account_id=1, limit=10, offset=0)
        assert page.total == 4
        assert {item.url: item.status for item in page.items}[A[0]] == "ok"


def _check_merged(ids: dict[str, int], before: Snapshot, after: Snapshot) -> None:
    inventory = after["inventory"]

    def row(name: str) -> dict[str, Any]:
        return dict(zip(TABLES["inventory"].c.keys(), inventory[ids[name]], strict=True))

    gone = {ids["1a"], ids["1b_dot"], ids["1c"], ids["2a_dot"]}
    assert set(inventory) == set(before["inventory"]) - gone
    # a: the older dotted row kept, keyed by the plain store row writes go to
    assert (row("1a_dot")["url_hash"], row("1a_dot")["url"]) == (A[1], A[0])
    assert row("1a_dot")["source"] == "upload"
    assert row("1a_dot")["created_date"] == T0
    # b: the older plain row kept, keyed by the only store row (the dotted one)
    assert (row("1b")["url_hash"], row("1b")["url"]) == (B_DOT[1], B_DOT[0])
    assert (row("1b")["source"], row("1b")["created_date"]) == ("upload", T0 + timedelta(days=1))
    # c (with a port, not stored): the older dotted row, under the plain key
    assert (row("1c_dot")["url_hash"], row("1c_dot")["url"]) == (C[1], C[0])
    assert (row("1c_dot")["source"], row("1c_dot")["created_date"]) == (
        "pixel",
        T0 + timedelta(days=2),
    )
    assert (row("2a")["url_hash"], row("2a")["source"], row("2a")["created_date"]) == (
        A[1],
        "upload",
        T0,
    )
    for untouched in ("3a", "4a_dot", "1d_dot", "4e"):
        assert inventory[ids[untouched]] == before["inventory"][ids[untouched]], untouched
    for account_id in (1, 2, 3, 4):  # one row per page
        pages = [normalize_url(r[3]) for r in inventory.values() if r[1] == account_id]
        assert len(pages) == len(set(pages)), account_id
    assert after["store"] == before["store"]

    by_segment: dict[int, set[str]] = {}
    for member in after["members"].values():
        by_segment.setdefault(member[1], set()).add(member[2])
    assert by_segment[ids["s_both"]] == {A[1], B_DOT[1], C[1], E[1]}
    assert by_segment[ids["s_dot"]] == {A[1]}
    assert by_segment[ids["s_b"]] == {B_DOT[1]}
    assert by_segment[ids["s_other"]] == {A_DOT[1]}
    assert len(after["members"]) == len(before["members"]) - 3
    segments = after["segments"]
    both = dict(zip(TABLES["segments"].c.keys(), segments[ids["s_both"]], strict=True))
    assert (both["url_count"], both["domain_count"]) == (4, 4)
    assert orjson.loads(both["top_domains"]) == [
        {"domain": domain, "url_count": 1}
        for domain in ("example.com", "example.net", "example.org", "x.org")
    ]
    for segment_id in (ids["s_dot"], ids["s_b"], ids["s_other"]):
        assert segments[segment_id] == before["segments"][segment_id]
