"""Several flushers on one spool: each segment is claimed by one of them, every hit counts once."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.support import counted_hits

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.pixel.collector_models import PixelSpoolSegment
from beacon.pixel.consumer import gc_paused
from beacon.pixel.factory import make_consumer, open_spool
from beacon.pixel.hits import gif_record
from beacon.pixel.models import PixelCampaign
from beacon.pixel.spool import Spool

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
SEGMENTS, HITS_PER_SEGMENT = 24, 250

# A flusher process: the consumer `beacon serve`'s flusher children run, on a shared spool.
FLUSHER = textwrap.dedent(
    """
    import json, sys
    from beacon.core.config import Settings
    from beacon.core.db import Database
    from beacon.pixel.factory import make_consumer, open_spool
    settings = Settings(data_dir=sys.argv[1], database_url=sys.argv[2], pixel_spool_dir=sys.argv[3])
    db = Database(settings.effective_database_url)
    spool = open_spool(settings)
    consumer = make_consumer(settings=settings, db=db, spool=spool)
    print("ready", flush=True)
    sys.stdin.readline()  # both start together
    result = consumer.flush()
    print(json.dumps({"counted": result.counted, "segments": result.segments,
                      "failed": result.failed}), flush=True)
    """
)


def test_claims_are_exclusive_and_released(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(b"hit")
    sealed = spool.seal()
    assert sealed is not None
    other = Spool(tmp_path)  # another process's handle, in effect: its own descriptors
    with spool.claim(sealed) as mine:
        assert mine
        with other.claim(sealed) as theirs:
            assert not theirs
    with other.claim(sealed) as theirs:
        assert theirs  # released when the first flusher let go (or died)
        other.mark_done(sealed)
    with spool.claim(sealed) as mine:
        assert not mine  # flushed and deleted meanwhile


def new_campaign(db: Database) -> int:
    with db.transaction() as session:
        row = PixelCampaign(account_id=1, name="c", use_case="campaign_reporting")
        session.add(row)
        session.flush()
        return row.id


def test_two_flushers_on_one_spool_count_every_hit_exactly_once(
    tmp_path: Path, database_url: str, db: Database, key_for: Callable[[str], str]
) -> None:
    key_for("acme")
    campaign_id = new_campaign(db)
    spool_dir = tmp_path / "spool"
    writer = Spool(spool_dir)
    for segment in range(SEGMENTS):
        for i in range(HITS_PER_SEGMENT):
            query = f"url=https%3A%2F%2Fsite{segment}.example%2F{i % 17}&creative_id={i % 5}"
            writer.append(gif_record(time.time(), campaign_id, "8.8.8.8", query, "", UA, None))
        writer.seal()
    flushers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                FLUSHER,
                str(tmp_path / f"data{n}"),
                database_url,
                str(spool_dir),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    results = []
    try:
        for flusher in flushers:
            assert flusher.stdout is not None and flusher.stdout.readline().strip() == "ready"
        for flusher in flushers:
            assert flusher.stdin is not None
            flusher.stdin.write("go\n")
            flusher.stdin.flush()
        for flusher in flushers:
            assert flusher.stdout is not None
            results.append(json.loads(flusher.stdout.readline()))
    finally:
        for flusher in flushers:
            flusher.kill()
            flusher.communicate(timeout=10)  # reaps it and closes its pipes

    total = SEGMENTS * HITS_PER_SEGMENT
    assert sum(r["counted"] for r in results) == total
    assert counted_hits(db, campaign_id) == total
    # Each segment was processed once: none was counted by one flusher and then found
    # already processed (or lost on the primary key) by the other.
    assert sum(r["segments"] for r in results) == SEGMENTS
    assert all(r["failed"] == 0 for r in results)
    assert all(r["segments"] > 0 for r in results)  # they shared the backlog
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(PixelSpoolSegment)) == SEGMENTS
    assert list(spool_dir.glob("*.seg")) == []


def test_a_final_flush_waits_for_a_segment_another_flusher_holds(
    tmp_path: Path, database_url: str, db: Database, key_for: Callable[[str], str]
) -> None:
    key_for("acme")
    campaign_id = new_campaign(db)
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    spool = open_spool(settings)
    for i in range(30):
        spool.append(gif_record(time.time(), campaign_id, "8.8.8.8", f"u={i}", "", UA, None))
    sealed = spool.seal()
    assert sealed is not None
    consumer = make_consumer(settings=settings, db=db, spool=spool)
    other = open_spool(settings)  # e.g. the flusher of a server killed just before
    results: list[int] = []
    with other.claim(sealed) as held:
        assert held
        assert consumer.flush().counted == 0  # an ordinary flush skips a claimed segment
        final = threading.Thread(target=lambda: results.append(consumer.flush(final=True).counted))
        final.start()
        final.join(0.5)
        assert final.is_alive()  # waits for the other flusher ...
    final.join(30)  # ... which let go without counting it: the final flush takes it over
    assert results == [30]
    assert counted_hits(db, campaign_id) == 30


def test_no_garbage_collection_while_a_segment_is_counted(
    tmp_path: Path, db: Database, database_url: str, key_for: Callable[[str], str]
) -> None:
    key_for("acme")
    campaign_id = new_campaign(db)
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    spool = open_spool(settings)
    for i in range(3000):  # a key object, rows and cache entries per hit: many allocations
        query = f"url=https%3A%2F%2Fsite{i % 40}.example%2Fpage{i}&creative_id={i}"
        spool.append(gif_record(time.time(), campaign_id, "8.8.8.8", query, "", UA, None))
    consumer = make_consumer(settings=settings, db=db, spool=spool)
    collections: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(record)
    try:
        assert consumer.flush().counted == 3000
    finally:
        gc.callbacks.remove(record)
    assert gc.isenabled()
    # Without the pause the young generation fills every 700 allocations: dozens of
    # collections a segment. With it only the steps around the count (claim, delete) may.
    assert len(collections) <= 2, collections
    assert counted_hits(db, campaign_id) == 3000


def test_gc_paused_restores_the_collector_state() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("a failed segment")
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # it was off before: left off
    finally:
        gc.enable()
