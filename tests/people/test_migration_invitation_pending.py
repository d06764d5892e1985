"""Migration 0207: of each account's open invitations of an address the newest is kept and the
older ones are revoked, then the partial unique index refuses a second open one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, insert, select, text
from sqlalchemy.exc import IntegrityError
from tests.migrations import alembic_config, scratch_database

from beacon.core.db import make_engine
from beacon.people.models import Invitation

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def old_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of its own on the backend, empty (the migrations build it)."""
    with scratch_database(database_url, tmp_path, "m0207") as url:
        yield url


_SEQUENCE = iter(range(1, 1_000_000))


def _invitation(conn: Connection, account_id: int, email: str, minutes: int, **values: Any) -> int:
    created = T0 + timedelta(minutes=minutes)
    row = conn.execute(
        insert(Invitation.__table__)
        .values(
            account_id=account_id, email=email, role="viewer",
            token_hash=f"hash-{next(_SEQUENCE)}", created_at=created,
            expires_at=created + timedelta(hours=72), **values,
        )
        .returning(Invitation.__table__.c.id)
    )  # fmt: skip
    return int(row.scalar_one())


def _seed(conn: Connection) -> dict[str, int]:
    for account_id in (1, 2):
        conn.execute(
            text("INSERT INTO accounts (id, name, created_at) VALUES (:i, :n, '2026-01-01')"),
            {"i": account_id, "n": f"a{account_id}"},
        )
    return {
        # account 1, ann: three open (created at minutes 5, 9, 1), one accepted, one revoked
        "ann_middle": _invitation(conn, 1, "ann@example.com", 5),
        "ann_newest": _invitation(conn, 1, "ann@example.com", 9),
        "ann_oldest": _invitation(conn, 1, "ann@example.com", 1),
        "ann_accepted": _invitation(conn, 1, "ann@example.com", 0, accepted_at=T0),
        "ann_revoked": _invitation(conn, 1, "ann@example.com", 20, revoked_at=T0),
        # account 1, bob: one open; account 2, ann: one open (another account)
        "bob": _invitation(conn, 1, "bob@example.com", 3),
        "ann_2": _invitation(conn, 2, "ann@example.com", 2),
        # account 2, cy: two open with one creation time: the higher id is the newer
        "cy_first": _invitation(conn, 2, "cy@example.com", 4),
        "cy_second": _invitation(conn, 2, "cy@example.com", 4),
    }


def _states(conn: Connection) -> dict[int, tuple[Any, Any]]:
    table = Invitation.__table__
    rows = conn.execute(select(table.c.id, table.c.accepted_at, table.c.revoked_at))
    return {row.id: (row.accepted_at, row.revoked_at) for row in rows}


def test_upgrade_revokes_older_open_duplicates_then_refuses_new_ones(old_url: str) -> None:
    config = alembic_config(old_url)
    command.upgrade(config, "0206_activation_root_dot")
    command.upgrade(config, "0017_people_devices")  # a database from before 0207
    engine = make_engine(old_url)
    try:
        with engine.begin() as conn:
            ids = _seed(conn)
            before = _states(conn)
        started = datetime.now(UTC)
        command.upgrade(config, "heads")
        with engine.begin() as conn:
            after = _states(conn)
        for revoked in ("ann_middle", "ann_oldest", "cy_first"):
            accepted_at, revoked_at = after[ids[revoked]]
            assert accepted_at is None, revoked
            assert revoked_at is not None and revoked_at >= started - timedelta(seconds=1)
        for kept in ("ann_newest", "ann_accepted", "ann_revoked", "bob", "ann_2", "cy_second"):
            assert after[ids[kept]] == before[ids[kept]], kept
        with pytest.raises(IntegrityError), engine.begin() as conn:
            _invitation(conn, 1, "ann@example.com", 30)
        with engine.begin() as conn:  # a revoked or accepted one does not hold the place
            _invitation(conn, 1, "bob@example.com", 30, revoked_at=T0)
            _invitation(conn, 1, "bob@example.com", 31, accepted_at=T0)
            _invitation(conn, 1, "dee@example.com", 30)
    finally:
        engine.dispose()
