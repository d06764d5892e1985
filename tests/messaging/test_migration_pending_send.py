"""Migration 0102: pending send-now runs left by the old ``/send`` race are cancelled but the
first of each campaign, then the partial unique index keeps it that way."""

from __future__ import annotations

import importlib
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Index, insert, select, text
from sqlalchemy.exc import IntegrityError

from beacon.core.db import Database, upgrade_database
from beacon.messaging.models import Campaign, Execution

migration = importlib.import_module("beacon.migrations.versions.0102_messaging_pending_send")
T0 = datetime(2026, 12, 1, 9, 0)
INDEX = "uq_messaging_executions_pending_send"


def _campaign(conn: Connection, account_id: int) -> uuid.UUID:
    campaign_id = uuid.uuid4()
    conn.execute(
        insert(Campaign.__table__).values(
            id=campaign_id, account_id=account_id, name="c", channel="email",
            campaign_type="broadcast", status="published", audience_included=[],
            audience_excluded=[], audience_updated_at=T0, schedule_mode="now",
            timezone="UTC", created_at=T0, updated_at=T0,
        )
    )  # fmt: skip
    return campaign_id


def _execution(
    conn: Connection, account_id: int, campaign_id: uuid.UUID, minute: int, **values: Any
) -> uuid.UUID:
    execution_id = uuid.uuid4()
    at = T0 + timedelta(minutes=minute)
    row = {"trigger": "send_now", "status": "scheduled", **values}
    conn.execute(
        insert(Execution.__table__).values(
            id=execution_id, account_id=account_id, campaign_id=campaign_id, scheduled_for=at,
            attempts=0, created_at=at, updated_at=at, **row,
        )
    )  # fmt: skip
    return execution_id


def _seed_the_race(conn: Connection, account_id: int) -> dict[str, uuid.UUID]:
    """Campaign a: three pending sends (created at minutes 2, 1, 3), a running one and a
    future scheduled run; campaign b: one pending send."""
    a, b = _campaign(conn, account_id), _campaign(conn, account_id)
    return {
        "a_second": _execution(conn, account_id, a, 2),
        "a_first": _execution(conn, account_id, a, 1),
        "a_third": _execution(conn, account_id, a, 3),
        "a_running": _execution(conn, account_id, a, 0, status="running"),
        "a_schedule": _execution(conn, account_id, a, 0, trigger="schedule"),
        "b_only": _execution(conn, account_id, b, 5),
        "a": a,
    }


def _statuses(conn: Connection) -> dict[uuid.UUID, tuple[str, str | None]]:
    rows = conn.execute(select(Execution.id, Execution.status, Execution.error))
    return {row.id: (row.status, row.error) for row in rows}


def _check_resolved(conn: Connection, ids: dict[str, uuid.UUID]) -> None:
    statuses = _statuses(conn)
    for kept in ("a_first", "a_running", "a_schedule", "b_only"):
        assert statuses[ids[kept]][0] in ("scheduled", "running"), kept
    assert statuses[ids["a_running"]] == ("running", None)
    for dropped in ("a_second", "a_third"):
        assert statuses[ids[dropped]] == ("cancelled", migration.DUPLICATE)


def test_upgrade_cancels_the_race_duplicates_then_refuses_new_ones(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = Config()
    config.set_main_option("script_location", str(Path(migration.__file__).parents[1]))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "0101_messaging_engine")  # a database from before the index
    old = Database(url)
    try:
        with old.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO accounts (id, name, created_at) VALUES (1, 'a', '2026-01-01')")
            )
            ids = _seed_the_race(conn, 1)
        upgrade_database(url)
        with old.engine.begin() as conn:
            _check_resolved(conn, ids)
        with pytest.raises(IntegrityError), old.engine.begin() as conn:
            _execution(conn, 1, ids["a"], 9)
        with old.engine.begin() as conn:  # a future scheduled run is not a pending send
            _execution(conn, 1, ids["a"], 9, trigger="schedule")
    finally:
        old.dispose()


def test_resolution_on_the_migrated_database(db: Database) -> None:
    """The same resolution on each backend (PostgreSQL's UUIDs included): the index is
    dropped, duplicates stored, then resolved and the index built again."""
    index = next(i for i in Execution.__table__.indexes if i.name == INDEX)
    assert isinstance(index, Index)
    with db.engine.begin() as conn:
        conn.execute(text(f"DROP INDEX {INDEX}"))
        conn.execute(
            text("INSERT INTO accounts (id, name, created_at) VALUES (7, 'a', '2026-01-01')")
        )
        ids = _seed_the_race(conn, 7)
        assert migration.cancel_duplicates(conn) == 2
        index.create(conn)
        _check_resolved(conn, ids)
    with pytest.raises(IntegrityError), db.engine.begin() as conn:
        _execution(conn, 7, ids["a"], 9)
