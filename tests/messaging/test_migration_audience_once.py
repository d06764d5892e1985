"""Migration 0105: a campaign stored with a segment repeated in its audience holds it once, at
its first place, in each of its included and excluded lists."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import insert, select, text
from tests.migrations import alembic_config, scratch_database

from beacon.core.db import make_engine
from beacon.messaging.models import Campaign

A, B, C = (str(uuid.uuid4()) for _ in range(3))
REVISION = "0105_messaging_audience_once"


@pytest.fixture
def old_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    with scratch_database(database_url, tmp_path, "m0105") as url:
        yield url


def test_repeated_segments_are_kept_once_at_their_first_place(old_url: str) -> None:
    config = alembic_config(old_url)
    command.upgrade(config, "0104_messaging_schedule_pairing")
    table = Campaign.__table__
    rows = {
        "both_repeated": ([B, A, B, A, C], [C, C]),
        "excluded_repeated": ([A], [B, A, B]),
        "clean": ([A, B], [C]),
        "empty": ([], []),
        # no writer stores these; the migration leaves them as they are, never failing on them
        "null": (None, []),
        "text": ("abc", []),
        "object": ({"k": 1, "j": 2}, []),
        "objects": ([{"id": A}, {"id": A}], []),
    }
    # more campaigns than one batch, so a batch boundary is crossed
    batch = ScriptDirectory.from_config(config).get_revision(REVISION).module.BATCH
    fillers = [f"filler{n}" for n in range(batch + 2)]
    rows |= {name: ([C, C, A], []) for name in fillers}
    ids = {name: uuid.uuid4() for name in rows}
    engine = make_engine(old_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO accounts (id, name, created_at) VALUES (1, 'a', '2026-01-01')")
            )
            conn.execute(
                insert(table),
                [
                    {
                        "id": ids[name], "account_id": 1, "name": name, "channel": "email",
                        "campaign_type": "broadcast", "status": "draft", "schedule_mode": "now",
                        "timezone": "UTC", "audience_included": included,
                        "audience_excluded": excluded,
                    }
                    for name, (included, excluded) in rows.items()
                ],
            )  # fmt: skip
            before = {
                row.id: row.updated_at
                for row in conn.execute(select(table.c.id, table.c.updated_at))
            }
        command.upgrade(config, REVISION)
        with engine.connect() as conn:
            found = {
                row.id: (row.audience_included, row.audience_excluded, row.updated_at)
                for row in conn.execute(
                    select(
                        table.c.id,
                        table.c.audience_included,
                        table.c.audience_excluded,
                        table.c.updated_at,
                    )
                )
            }
    finally:
        engine.dispose()
    assert found[ids["both_repeated"]][:2] == ([B, A, C], [C])
    assert found[ids["excluded_repeated"]][:2] == ([A], [B, A])
    assert found[ids["clean"]][:2] == ([A, B], [C])
    assert found[ids["empty"]][:2] == ([], [])
    for name in ("null", "text", "object", "objects"):
        assert found[ids[name]][:2] == rows[name], name
    assert {found[ids[name]][:2] == ([C, A], []) for name in fillers} == {True}
    # a repair, not an edit by anyone: what the campaign says it last changed stays
    assert {i: row[2] for i, row in found.items()} == before
