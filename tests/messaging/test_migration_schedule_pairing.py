"""Migration 0104: a draft stored with a sendAt beside mode 'now' gets mode 'at'; a published
campaign, which behaved as 'now', keeps it and loses the sendAt nothing read."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import insert, select, text
from tests.migrations import alembic_config, scratch_database

from beacon.core.db import make_engine
from beacon.messaging.models import Campaign

SEND_AT = datetime(2027, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def old_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    with scratch_database(database_url, tmp_path, "m0104") as url:
        yield url


def test_unpaired_schedules_are_repaired_by_what_acted_on_them(old_url: str) -> None:
    config = alembic_config(old_url)
    command.upgrade(config, "0103_messaging_handover_claims")
    table = Campaign.__table__
    rows = {
        "draft": ("draft", "now", SEND_AT),
        "published": ("published", "now", SEND_AT),
        "draft_now": ("draft", "now", None),
        "draft_at": ("draft", "at", SEND_AT),
        "published_at": ("published", "at", SEND_AT),
    }
    ids = {name: uuid.uuid4() for name in rows}
    engine = make_engine(old_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO accounts (id, name, created_at) VALUES (1, 'a', '2026-01-01')")
            )
            for name, (status, mode, send_at) in rows.items():
                conn.execute(
                    insert(table).values(
                        id=ids[name], account_id=1, name=name, channel="email",
                        campaign_type="promotional", status=status, schedule_mode=mode,
                        send_at=send_at, timezone="UTC",
                    )
                )  # fmt: skip
        command.upgrade(config, "heads")
        with engine.connect() as conn:
            found = {
                row.id: (row.status, row.schedule_mode, row.send_at)
                for row in conn.execute(
                    select(table.c.id, table.c.status, table.c.schedule_mode, table.c.send_at)
                )
            }
    finally:
        engine.dispose()
    assert found[ids["draft"]] == ("draft", "at", SEND_AT)
    assert found[ids["published"]] == ("published", "now", None)
    for untouched in ("draft_now", "draft_at", "published_at"):
        assert found[ids[untouched]] == rows[untouched], untouched
