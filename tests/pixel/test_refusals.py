"""Hits the database refuses are set aside with its reason; the rest of their segment counts."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.pixel import consumer, refusals
from beacon.pixel.collector_models import PixelSpoolSegment
from beacon.pixel.models import PixelRollup
from beacon.pixel.spool import QUARANTINE_DIR, Spool

REFUSED = "*.refused.jsonl"  # where docs/measure.md says refused hits go

PROXY = ("10.1.2.3", 40000)
CHROME = {
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
}
BAD = b"refused.example"


@pytest.fixture
def pixel_settings() -> dict[str, Any]:
    return {"trusted_proxies": "10.0.0.0/8"}  # PROXY, the test client's address


@pytest.fixture
def client(pixel_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(pixel_app, client=PROXY) as test_client:
        yield test_client


@pytest.fixture
def nul_refused(db: Database) -> Iterator[str]:
    """What the database says of a NUL in text: PostgreSQL refuses it; SQLite stores it, so a
    trigger refuses it there as PostgreSQL would."""
    if db.engine.dialect.name == "postgresql":
        yield "0x00"
        return
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TRIGGER test_nul_refused BEFORE INSERT ON pixel_rollups "
                "WHEN instr(CAST(NEW.url AS BLOB), x'00') > 0 "
                "BEGIN SELECT RAISE(ABORT, 'text cannot contain NUL (0x00) bytes'); END"
            )
        )
    try:
        yield "0x00"
    finally:
        with db.engine.begin() as conn:
            conn.execute(text("DROP TRIGGER test_nul_refused"))


def _enrich_a_refused_value(pixel_app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    """The enrichment of hits of refused.example emits a NUL in the page URL (as a new field,
    or a regression of the URL normalisation, might), which the database refuses."""
    enricher = pixel_app.state.pixel.consumer.enricher
    count_key = enricher.count_key

    def nul_in_url(record: bytes) -> Any:
        key = count_key(record)
        return key._replace(url=key.url + "\x00") if BAD in record else key

    monkeypatch.setattr(enricher, "count_key", nul_in_url)


def _campaign(client: TestClient, headers: dict[str, str]) -> int:
    response = client.post(
        "/v1/pixel/campaigns",
        json={"name": "Refusals", "use_case": "campaign_reporting"},
        headers=headers,
    )
    assert response.status_code == 201
    return int(response.json()["id"])


def _hit(client: TestClient, cid: int, url: str) -> None:
    assert client.get(f"/px/{cid}.gif", params={"url": url}, headers=CHROME).status_code == 200


def _spool_hits(client: TestClient, cid: int) -> None:
    """40 good hits on 8 pages and 2 of refused.example, in one segment."""
    for i in range(40):
        _hit(client, cid, f"https://www.example.com/page-{i % 8}")
        if i in (10, 30):
            _hit(client, cid, "https://refused.example/a")


def _counted(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.coalesce(func.sum(PixelRollup.hits), 0))))


def _set_aside(spool_dir: Path) -> list[dict[str, str]]:
    lines = []
    for path in sorted((spool_dir / QUARANTINE_DIR).glob(REFUSED)):
        lines += [json.loads(line) for line in path.read_text().splitlines()]
    return lines


def test_refused_hits_are_set_aside_and_the_rest_counted_once(
    settings: Settings,
    client: TestClient,
    pixel_app: FastAPI,
    db: Database,
    headers: dict[str, str],
    nul_refused: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A value the database refuses failed the whole segment's transaction, and every retry
    # failed the same way: none of its 40 good hits was ever counted and the backlog grew.
    cid = _campaign(client, headers)
    _enrich_a_refused_value(pixel_app, monkeypatch)
    pipeline = pixel_app.state.pixel
    _spool_hits(client, cid)
    sealed = pipeline.spool.seal()
    kept = sealed.read_bytes()

    result = pipeline.flush()

    assert (result.counted, result.failed, result.quarantined) == (40, 0, 0)
    assert dict(result.rejected) == {"quarantined": 2}
    assert _counted(db) == 40
    with db.transaction() as session:
        assert all("refused" not in url for url in session.scalars(select(PixelRollup.url)))
        (segment,) = session.scalars(select(PixelSpoolSegment)).all()
        assert (segment.hits, segment.rejected) == (40, 2)
    assert not sealed.exists() and pipeline.spool.sealed_segments() == []  # acknowledged
    aside = _set_aside(pipeline.spool.directory)
    assert len(aside) == 2
    assert {line["segment"] for line in aside} == {segment.segment_id}
    assert all(nul_refused in line["error"] for line in aside)
    assert all(BAD.decode() in line["record"] for line in aside)
    metrics = client.get("/metrics").text
    assert "beacon_pixel_quarantined_hits_total 2.0" in metrics
    assert 'beacon_pixel_hits_rejected_total{reason="quarantined"} 2.0' in metrics
    assert "beacon_pixel_segments_quarantined_total 0.0" in metrics

    # The segment again (a crash after the commit, before the file was deleted): nothing new.
    sealed.write_bytes(kept)
    again = pipeline.flush()
    assert (again.counted, again.segments, dict(again.rejected)) == (0, 1, {})
    assert _counted(db) == 40 and len(_set_aside(pipeline.spool.directory)) == 2

    # `beacon pixel-quarantine` lists them with the reason and, once the cause is fixed,
    # replays them: back in the spool, they count.
    monkeypatch.undo()
    env = {"BEACON_DATABASE_URL": str(db.engine.url.render_as_string(hide_password=False)),
           "BEACON_DATA_DIR": str(settings.data_dir)}  # fmt: skip
    (refused_file,) = (pipeline.spool.directory / QUARANTINE_DIR).glob(REFUSED)
    listed = _cli(env, "list")
    assert listed.exit_code == 0, listed.output
    assert f"{refused_file.name}: 2 hit(s) the database refused" in listed.output
    assert nul_refused in listed.output
    replayed = _cli(env, "replay", refused_file.name)
    assert replayed.exit_code == 0, replayed.output
    assert not refused_file.exists() and len(pipeline.spool.sealed_segments()) == 1
    assert pipeline.flush().counted == 2
    assert _counted(db) == 42
    again = _cli(env, "replay", refused_file.name)
    assert again.exit_code == 2 and "no " + refused_file.name in again.output


def _cli(env: dict[str, str], *args: str) -> Result:
    from beacon import cli

    return CliRunner().invoke(cli.app, ["pixel-quarantine", *args], env=env)


def test_an_outage_keeps_the_segment_for_a_retry_and_sets_nothing_aside(
    client: TestClient,
    pixel_app: FastAPI,
    db: Database,
    headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cid = _campaign(client, headers)
    pipeline = pixel_app.state.pixel
    _spool_hits(client, cid)
    sealed = pipeline.spool.seal()

    def connection_lost(*_: Any, **__: Any) -> None:
        raise OperationalError("INSERT ...", None, Exception("server closed the connection"))

    monkeypatch.setattr(consumer, "increment", connection_lost)
    result = pipeline.flush()
    assert (result.counted, result.failed, dict(result.rejected)) == (0, 1, {})
    assert sealed.exists() and _counted(db) == 0
    assert _set_aside(pipeline.spool.directory) == []
    metrics = client.get("/metrics").text
    assert "beacon_pixel_quarantined_hits_total 0.0" in metrics

    monkeypatch.undo()  # the database is back: every hit counts, refused.example's too
    assert pipeline.flush().counted == 42
    assert not sealed.exists() and _counted(db) == 42


def test_a_failure_while_setting_aside_counts_nothing_and_retries_the_segment(
    client: TestClient,
    pixel_app: FastAPI,
    db: Database,
    headers: dict[str, str],
    nul_refused: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The accepted halves are written in savepoints of the segment's transaction: when the
    # set-aside file cannot be written (disk full), none of them may stay counted, or the
    # retry would count them twice.
    cid = _campaign(client, headers)
    _enrich_a_refused_value(pixel_app, monkeypatch)
    pipeline = pixel_app.state.pixel
    _spool_hits(client, cid)
    sealed = pipeline.spool.seal()

    def disk_full(*_: Any, **__: Any) -> Path:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(pipeline.spool, "set_aside", disk_full)
        result = pipeline.flush()
    assert (result.counted, result.failed) == (0, 1)
    assert sealed.exists() and _counted(db) == 0
    with db.transaction() as session:
        assert session.scalars(select(PixelSpoolSegment)).all() == []

    result = pipeline.flush()
    assert (result.counted, dict(result.rejected)) == (40, {"quarantined": 2})
    assert _counted(db) == 40 and len(_set_aside(pipeline.spool.directory)) == 2


def test_a_flusher_process_relays_the_refused_hits_to_the_servers_metrics() -> None:
    from beacon.pixel.flusher import apply_event
    from beacon.pixel.metrics import PixelMetrics

    metrics = PixelMetrics()
    apply_event(metrics, ("hits_quarantined", 3))
    assert metrics.registry.get_sample_value("beacon_pixel_quarantined_hits_total") == 3


class Killed(BaseException):
    """The flusher process killed (``kill -9``, OOM) at this point: nothing after it runs."""


def _env(settings: Settings, db: Database) -> dict[str, str]:
    return {
        "BEACON_DATABASE_URL": str(db.engine.url.render_as_string(hide_password=False)),
        "BEACON_DATA_DIR": str(settings.data_dir),
    }


def test_a_flusher_killed_before_its_commit_leaves_no_file_of_refused_hits(
    settings: Settings,
    client: TestClient,
    pixel_app: FastAPI,
    db: Database,
    headers: dict[str, str],
    nul_refused: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The refused hits were written as <segment>.refused.jsonl before the segment's commit:
    # killed in between, the file stayed although nothing was counted; the retry (after an
    # upgrade that takes the values) counted all 42 hits, and a replay of the stale file
    # counted the 2 refused ones a second time.
    cid = _campaign(client, headers)
    _enrich_a_refused_value(pixel_app, monkeypatch)
    pipeline = pixel_app.state.pixel
    _spool_hits(client, cid)
    sealed = pipeline.spool.seal()
    set_aside = pipeline.spool.set_aside

    def then_killed(*args: Any, **kwargs: Any) -> Path:
        set_aside(*args, **kwargs)
        raise Killed

    monkeypatch.setattr(pipeline.spool, "set_aside", then_killed)
    with pytest.raises(Killed):
        pipeline.flush()
    assert sealed.exists() and _counted(db) == 0
    assert _set_aside(pipeline.spool.directory) == []  # no file of refused hits: not counted

    monkeypatch.undo()  # the upgrade: the database takes every hit now
    listed = _cli(_env(settings, db), "list")  # settles what the killed flusher left
    assert listed.exit_code == 0 and "Nothing in" in listed.output, listed.output
    assert list((pipeline.spool.directory / QUARANTINE_DIR).iterdir()) == []
    assert pipeline.flush().counted == 42 and _counted(db) == 42


def test_a_retry_that_counts_every_hit_drops_what_an_earlier_try_set_aside(
    client: TestClient,
    pixel_app: FastAPI,
    db: Database,
    headers: dict[str, str],
    nul_refused: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An earlier try set 2 hits aside and its commit failed; the retry counted all 42 (the
    # values taken now), but the earlier `.partial` stayed, and the next settling promoted it
    # as refused hits of a counted segment: a replay would then count those 2 twice.
    cid = _campaign(client, headers)
    _enrich_a_refused_value(pixel_app, monkeypatch)
    pipeline = pixel_app.state.pixel
    _spool_hits(client, cid)
    sealed = pipeline.spool.seal()
    set_aside = pipeline.spool.set_aside

    def then_lost(*args: Any, **kwargs: Any) -> Path:
        set_aside(*args, **kwargs)
        raise OperationalError("COMMIT", None, Exception("server closed the connection"))

    monkeypatch.setattr(pipeline.spool, "set_aside", then_lost)
    assert pipeline.flush().failed == 1
    assert pipeline.spool.refused_partial(sealed).exists() and _counted(db) == 0

    monkeypatch.undo()  # the database takes every hit now
    assert pipeline.flush().counted == 42 and _counted(db) == 42
    assert not pipeline.spool.refused_partial(sealed).exists()
    pipeline.consumer.start()  # a flusher starting settles leftovers: there are none
    pipeline.consumer.stop()
    assert _set_aside(pipeline.spool.directory) == []


def test_a_file_of_refused_hits_whose_segment_was_not_counted_is_not_replayed(
    settings: Settings, db: Database, pixel_app: FastAPI, client: TestClient
) -> None:
    # One an earlier version left (see above): replaying it would count its hits twice.
    aside = pixel_app.state.pixel.spool.directory / QUARANTINE_DIR
    aside.mkdir(parents=True, exist_ok=True)
    stale = aside / "00000000000000000001-1-000001.refused.jsonl"
    line = {"segment": "00000000000000000001-1-000001.0123", "error": "0x00", "record": "{}"}
    stale.write_text(json.dumps(line) + "\n")

    refused = _cli(_env(settings, db), "replay", stale.name)
    assert refused.exit_code == 2
    assert "is not recorded as counted" in refused.output and "--force" in refused.output
    assert stale.exists() and pixel_app.state.pixel.spool.sealed_segments() == []

    forced = _cli(_env(settings, db), "replay", "--force", stale.name)
    assert forced.exit_code == 0, forced.output
    assert not stale.exists() and len(pixel_app.state.pixel.spool.sealed_segments()) == 1


def test_a_flusher_killed_after_its_commit_keeps_the_refused_hits(
    client: TestClient,
    pixel_app: FastAPI,
    db: Database,
    headers: dict[str, str],
    nul_refused: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cid = _campaign(client, headers)
    _enrich_a_refused_value(pixel_app, monkeypatch)
    pipeline = pixel_app.state.pixel
    _spool_hits(client, cid)
    sealed = pipeline.spool.seal()

    def killed(_: Path) -> Path:
        raise Killed

    with monkeypatch.context() as patched:
        patched.setattr(pipeline.spool, "promote", killed)
        with pytest.raises(Killed):
            pipeline.flush()
    assert _counted(db) == 40 and sealed.exists()
    assert _set_aside(pipeline.spool.directory) == []  # not promoted yet

    pipeline.consumer.start()  # a flusher starting settles what the killed one left
    pipeline.consumer.stop()
    assert len(_set_aside(pipeline.spool.directory)) == 2
    assert not sealed.exists() and _counted(db) == 40


def test_a_commit_that_fails_after_committing_keeps_the_refused_hits(
    client: TestClient,
    pixel_app: FastAPI,
    db: Database,
    headers: dict[str, str],
    nul_refused: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The connection lost as COMMIT answered (PostgreSQL committed): the set-aside file was
    # deleted, the segment then found counted and acknowledged, and its refused hits lost.
    cid = _campaign(client, headers)
    _enrich_a_refused_value(pixel_app, monkeypatch)
    pipeline = pixel_app.state.pixel
    _spool_hits(client, cid)
    sealed = pipeline.spool.seal()
    lost = OperationalError("COMMIT", None, Exception("server closed the connection"))
    with _after_commit_of_refusals(pipeline, lost):
        result = pipeline.flush()
    assert (result.counted, result.failed, dict(result.rejected)) == (40, 0, {"quarantined": 2})
    assert not sealed.exists() and _counted(db) == 40
    assert len(_set_aside(pipeline.spool.directory)) == 2
    assert "beacon_pixel_quarantined_hits_total 2.0" in client.get("/metrics").text


@contextlib.contextmanager
def _after_commit_of_refusals(pipeline: Any, error: BaseException) -> Iterator[None]:
    """``error`` raised once the transaction that set refused hits aside has committed."""
    set_aside = pipeline.spool.set_aside
    armed = []

    def arming(*args: Any, **kwargs: Any) -> Path:
        armed.append(True)
        return set_aside(*args, **kwargs)

    def fail(_: Session) -> None:
        if armed:
            armed.clear()
            raise error

    event.listen(Session, "after_commit", fail)
    pipeline.spool.set_aside = arming
    try:
        yield
    finally:
        event.remove(Session, "after_commit", fail)
        del pipeline.spool.set_aside


def test_a_segment_of_refused_hits_is_set_aside_with_bounded_work(
    client: TestClient,
    pixel_app: FastAPI,
    db: Database,
    headers: dict[str, str],
    nul_refused: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every hit refused (an enrichment regression): the bisection ran a savepoint per key
    # and as many again, hundreds in one transaction holding its locks (and, past 64,
    # overflowing PostgreSQL's subtransaction cache, which slows the whole server).
    cid = _campaign(client, headers)
    pipeline = pixel_app.state.pixel
    enricher = pipeline.consumer.enricher
    count_key = enricher.count_key

    def nul_in_every_url(record: bytes) -> Any:
        key = count_key(record)
        return key._replace(url=key.url + "\x00")

    monkeypatch.setattr(enricher, "count_key", nul_in_every_url)
    for i in range(150):
        _hit(client, cid, f"https://www.example.com/page-{i}")
    savepoints = []

    def count(_: Session, transaction: Any) -> None:
        if transaction.nested:
            savepoints.append(1)

    event.listen(Session, "after_transaction_create", count)
    try:
        result = pipeline.flush()
    finally:
        event.remove(Session, "after_transaction_create", count)
    assert len(savepoints) <= 64  # refusals.MAX_SAVEPOINTS, PostgreSQL's subxact cache
    assert (result.counted, result.failed, dict(result.rejected)) == (0, 0, {"quarantined": 150})
    assert pipeline.spool.sealed_segments() == [] and _counted(db) == 0
    aside = _set_aside(pipeline.spool.directory)
    # each with the database's reason, or as not tried once the tries ran out
    assert len(aside) == 150
    assert all(nul_refused in line["error"] or refusals.UNTRIED in line["error"] for line in aside)
    assert any(nul_refused in line["error"] for line in aside)
    assert any(refusals.UNTRIED in line["error"] for line in aside)


class _Savepoints:
    def __init__(self) -> None:
        self.tries = 0

    def begin_nested(self) -> contextlib.AbstractContextManager[None]:
        self.tries += 1
        return contextlib.nullcontext()


def test_the_half_after_an_accepted_half_is_split_without_a_try() -> None:
    session = _Savepoints()
    units = list(range(1024))

    def write(batch: Any) -> None:
        if 1023 in batch:
            raise DataError("INSERT", None, Exception("integer out of range"))

    refused = refusals.isolate(cast(Any, session), units, write, refusals.Budget())
    assert refused == {1023: "integer out of range"}
    assert session.tries == 11  # the whole, then the first half of each of 10 levels


def test_when_the_tries_run_out_only_the_deepest_refused_ranges_are_set_aside() -> None:
    # The halves were bisected depth first: with three bad keys spread over 50,000, the
    # tries ran out inside the first half and the untried second half, 25,000 good keys,
    # was set aside whole. Level by level, every accepted range of the levels tried is written.
    session = _Savepoints()
    units = list(range(50_000))
    bad = {1_000, 20_000, 45_000}

    def write(batch: Any) -> None:
        if bad.intersection(batch):
            raise DataError("INSERT", None, Exception("integer out of range"))

    refused = refusals.isolate(cast(Any, session), units, write, refusals.Budget())
    assert session.tries <= refusals.MAX_SAVEPOINTS
    assert bad <= set(refused)
    assert len(refused) - len(bad) <= 100, len(refused)


def test_quarantine_files_are_private_and_their_renames_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Set-aside and replayed files were created 0644 (the records hold client addresses and
    # user agents; segments are 0640), and no rename was followed by a directory fsync.
    synced_dirs: list[Path] = []
    fsync = os.fsync

    def recording(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            synced_dirs.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    spool = Spool(tmp_path / "spool")
    spool.append(b'{"hit": 1}')
    sealed = spool.seal()
    assert sealed is not None
    partial = spool.set_aside(sealed, segment_id="s.1", refused=[(b'{"hit": 1}', "0x00")])
    assert synced_dirs == [spool.directory / QUARANTINE_DIR]
    refused = spool.promote(partial)
    assert stat.S_IMODE(refused.stat().st_mode) == 0o640
    assert refused.name.endswith(".refused.jsonl") and not partial.exists()
    assert synced_dirs[-1] == spool.directory / QUARANTINE_DIR and len(synced_dirs) == 2
    replayed = spool.replay(refused.name, processed=lambda segment: segment == "s.1")
    assert spool.directory in synced_dirs
    assert stat.S_IMODE(replayed.stat().st_mode) == 0o640


def test_replay_without_the_database_is_a_clear_error(tmp_path: Path) -> None:
    # Whether a file's segment was counted is the database's to tell; without an answer the
    # file is not replayed (and `list`/`replay` do not fail with a traceback).
    aside = tmp_path / "spool" / "pixel" / QUARANTINE_DIR
    aside.mkdir(parents=True)
    line = {"segment": "00000000000000000001-1-000001.0123", "error": "0x00", "record": "{}"}
    (aside / "00000000000000000001-1-000001.refused.jsonl").write_text(json.dumps(line) + "\n")
    (aside / "00000000000000000002-1-000001.refused.jsonl.partial").write_text(
        json.dumps(line) + "\n"
    )
    env = {
        "BEACON_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
        "BEACON_DATA_DIR": str(tmp_path),
    }
    listed = _cli(env, "list")
    assert listed.exit_code == 0, listed.output
    assert "the database did not answer" in listed.output
    assert "00000000000000000001-1-000001.refused.jsonl: 1 hit(s)" in listed.output
    replayed = _cli(env, "replay", "00000000000000000001-1-000001.refused.jsonl")
    assert replayed.exit_code == 2
    assert "whether its segment was counted cannot be told" in replayed.output
    assert (aside / "00000000000000000001-1-000001.refused.jsonl").exists()
    assert (aside / "00000000000000000002-1-000001.refused.jsonl.partial").exists()
