"""`beacon ingest-log`: combined-format access logs become counted server-side events."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from tests.support import LiveServer, run_cli
from typer.testing import CliRunner

from beacon.core.db import Database
from beacon.pixel.enrich import HitRejected
from beacon.pixel.hits import HitEnricher, event_record
from beacon.pixel.ingest_log import UnreadableLog, check_readable, parse_line
from beacon.pixel.models import PixelCampaign, PixelRollup
from beacon.pixel.spool import Spool

GPTBOT = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
LOG = f"""\
81.2.69.142 - - [15/Jan/2026:10:00:00 +0000] "GET /news/a?utm_source=x HTTP/1.1" 200 5120 "-" "{GPTBOT}"
81.2.69.142 - - [15/Jan/2026:23:30:00 -0100] "GET /news/a HTTP/1.1" 200 5120 "https://www.google.com/" "{GPTBOT}"
71.192.0.1 - - [15/Jan/2026:10:00:01 +0000] "GET /news/b HTTP/2.0" 304 0 "-" "{CHROME}"
71.192.0.1 - - [15/Jan/2026:10:00:01 +0000] "GET /static/app.css HTTP/2.0" 200 10 "-" "{CHROME}"
71.192.0.1 - - [15/Jan/2026:10:00:02 +0000] "GET /missing HTTP/1.1" 404 10 "-" "{CHROME}"
71.192.0.1 - - [15/Jan/2026:10:00:03 +0000] "POST /login HTTP/1.1" 200 10 "-" "{CHROME}"
garbage line
"""


def _campaign(db: Database) -> int:
    from beacon.core import auth

    with db.transaction() as session:
        account = auth.issue_api_key(session=session, account_name="pub").account_id
        campaign = PixelCampaign(
            account_id=account, name="site", use_case="publisher_bot_detection"
        )
        session.add(campaign)
        session.flush()
        return campaign.id


def test_ingest_page_log(tmp_path: Path, database_url: str, db: Database) -> None:
    cid = _campaign(db)
    log = tmp_path / "access.log"
    log.write_text(LOG)
    env = {"BEACON_DATABASE_URL": database_url, "BEACON_DATA_DIR": str(tmp_path / "data")}
    result = run_cli(
        "ingest-log", "--campaign", str(cid), "--site", "https://www.example.com", str(log), env=env
    )
    assert result.returncode == 0, result.stderr
    assert "Read 7 lines: 3 events spooled" in result.stdout
    assert "Flushed 3 hits into the rollups (0 rejected)" in result.stdout
    with db.transaction() as session:
        rows = sorted(
            (str(r.date), r.url, r.geo, r.device, r.traffic_type, r.agent, r.hits)
            for r in session.scalars(select(PixelRollup))
        )
    assert rows == [
        ("2026-01-15", "https://www.example.com/news/a", "GB", "desktop", "ai_agent", "GPTBot", 1),
        ("2026-01-15", "https://www.example.com/news/b", "US", "desktop", "human", "", 1),
        ("2026-01-16", "https://www.example.com/news/a", "GB", "desktop", "ai_agent", "GPTBot", 1),
    ]
    unknown = run_cli("ingest-log", "--campaign", "999999", str(log), env=env)
    assert unknown.returncode == 2 and "does not exist" in unknown.stderr


def test_pixel_request_log_lines() -> None:
    line = (
        '203.0.113.9 - - [15/Jan/2026:10:00:00 +0000] "GET /px/7.gif?url=https%3A%2F%2Fnews.example.org%2Fx'
        '&site=example.org&cb=%25%25CACHEBUSTER%25%25 HTTP/1.1" 200 43 "https://ads.example.net/" "Mozilla/5.0"'
    )
    event = parse_line(line, site=None)
    assert event.url == "https://news.example.org/x"
    assert event.macros == {"site": "example.org"}
    assert event.ip == "203.0.113.9" and event.user_agent == "Mozilla/5.0"
    referer_only = parse_line(
        line.replace("?url=https%3A%2F%2Fnews.example.org%2Fx&", "?"), site=None
    )
    assert referer_only.url == "https://ads.example.net/"
    with pytest.raises(HitRejected, match="malformed_line"):
        parse_line("nonsense", site=None)


def test_head_requests_are_not_page_loads() -> None:
    line = (
        f'81.2.69.142 - - [15/Jan/2026:10:00:00 +0000] "HEAD /news/a HTTP/1.1" 200 0 "-" "{CHROME}"'
    )
    with pytest.raises(HitRejected, match="not_a_page_load"):
        parse_line(line, site="https://www.example.com")
    assert parse_line(line.replace("HEAD", "GET"), site="https://www.example.com").url == (
        "https://www.example.com/news/a"
    )


def _hits(db: Database) -> int:
    with db.transaction() as session:
        return sum(r.hits for r in session.scalars(select(PixelRollup)))


def test_rerun_adds_only_new_lines_and_force_reads_all(
    tmp_path: Path, database_url: str, db: Database
) -> None:
    cid = _campaign(db)
    log = tmp_path / "access.log"
    head = f'71.192.0.1 - - [15/Jan/2026:10:00:09 +0000] "HEAD /news/a HTTP/1.1" 200 0 "-" "{CHROME}"\n'
    log.write_text(LOG + head)
    env = {"BEACON_DATABASE_URL": database_url, "BEACON_DATA_DIR": str(tmp_path / "data")}
    args = ("ingest-log", "--campaign", str(cid), "--site", "https://www.example.com")

    first = run_cli(*args, str(log), env=env)
    assert first.returncode == 0, first.stderr
    assert "Read 8 lines: 3 events spooled" in first.stdout
    assert "2 not_a_page_load" in first.stdout  # the POST and the HEAD
    assert "Skipped" not in first.stdout
    assert _hits(db) == 3

    again = run_cli(*args, str(log), env=env)
    assert again.returncode == 0, again.stderr
    assert (
        f"Skipped 8 lines already ingested from {log} (use --force to ingest again)."
        in again.stdout
    )
    assert "Read 0 lines: 0 events spooled" in again.stdout
    assert _hits(db) == 3

    with log.open("a") as handle:
        handle.write(
            f'71.192.0.1 - - [15/Jan/2026:11:00:00 +0000] "GET /news/c HTTP/1.1" 200 9 "-" "{CHROME}"\n'
        )
    grown = run_cli(*args, str(log), env=env)
    assert "Skipped 8 lines already ingested" in grown.stdout
    assert "Read 1 lines: 1 events spooled" in grown.stdout
    assert _hits(db) == 4

    forced = run_cli(*args, "--force", str(log), env=env)
    assert forced.returncode == 0, forced.stderr
    assert "Skipped" not in forced.stdout
    assert "Read 9 lines: 4 events spooled" in forced.stdout
    assert _hits(db) == 8


def test_rotated_file_is_read_from_the_start(
    tmp_path: Path, database_url: str, db: Database
) -> None:
    cid = _campaign(db)
    log = tmp_path / "access.log"
    log.write_text(LOG)
    env = {"BEACON_DATABASE_URL": database_url, "BEACON_DATA_DIR": str(tmp_path / "data")}
    args = ("ingest-log", "--campaign", str(cid), "--site", "https://www.example.com")
    assert run_cli(*args, str(log), env=env).returncode == 0
    assert _hits(db) == 3
    # copytruncate: the same inode now holds a new, longer log with other first bytes.
    new_log = LOG.replace("81.2.69.142", "81.2.69.143") * 2
    with log.open("r+") as handle:
        handle.truncate(0)
        handle.write(new_log)
    rotated = run_cli(*args, str(log), env=env)
    assert rotated.returncode == 0, rotated.stderr
    assert "changed since it was ingested (rotated or replaced)" in rotated.stdout
    assert "Read 14 lines: 6 events spooled" in rotated.stdout
    assert _hits(db) == 9


@pytest.mark.parametrize(
    ("options", "file", "message"),
    [
        (("--campaign", str(2**63)), "access.log", "Invalid value for '--campaign'"),
        (("--campaign", "0"), "access.log", "Invalid value for '--campaign'"),
        (("--campaign", "1"), "not.gz", "not a readable gzip file"),
        (("--campaign", "1"), "truncated.gz", "not a readable gzip file"),
        (("--campaign", "1", "--site", "www.example.com"), "access.log", "not an absolute http"),
        (("--campaign", "1", "--site", ""), "access.log", "not an absolute http"),
        (("--campaign", "1"), "pipe", "is not a regular file"),  # blocked forever on open
        (("--campaign", "1"), "/dev/null", "is not a regular file"),
    ],
)
def test_unusable_arguments_are_clear_errors(
    tmp_path: Path, options: tuple[str, ...], file: str, message: str
) -> None:
    # A campaign id past the 32-bit ids was an OverflowError traceback; a corrupt .gz a
    # BadGzipFile traceback, a truncated one a bare "Aborted!" after spooling the lines read
    # so far; a --site that is no URL ingested nothing and still exited 0.
    import gzip

    env = {"BEACON_DATABASE_URL": "", "BEACON_DATA_DIR": str(tmp_path / "data")}
    (tmp_path / "access.log").write_text(LOG)
    (tmp_path / "not.gz").write_bytes(b"plain text, not gzip\n")
    (tmp_path / "truncated.gz").write_bytes(gzip.compress(LOG.encode() * 50)[:-40])
    os.mkfifo(tmp_path / "pipe")
    result = run_cli("ingest-log", *options, str(tmp_path / file), env=env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "Aborted" not in result.stderr
    spool = tmp_path / "data" / "spool"
    assert not any(p.is_file() for p in spool.rglob("*")), "a refused file spools nothing"


def test_a_fifo_is_refused_without_opening_it(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "access.log")
    with pytest.raises(UnreadableLog, match="not a regular file"):
        check_readable(tmp_path / "access.log")


@pytest.mark.e2e
def test_beside_a_running_server_the_summary_counts_what_the_server_flushed(
    tmp_path: Path, database_url: str, db: Database
) -> None:
    # The server's flusher takes sealed segments as they appear, so the command's own flush
    # found them gone or held and said "Flushed 0"; now it waits and totals its segments.
    cid = _campaign(db)
    lines = 400
    log = tmp_path / "access.log"
    log.write_text(
        "".join(
            f'71.192.0.1 - - [15/Jan/2026:10:00:00 +0000] "GET /news/{i} HTTP/1.1" 200 9 "-" "{CHROME}"\n'
            for i in range(lines)
        )
    )
    data_dir = tmp_path / "data"
    fast = {"BEACON_PIXEL_FLUSH_INTERVAL": "0.05", "BEACON_PIXEL_SPOOL_FSYNC": "false",
            "BEACON_WORKER_IN_PROCESS": "false"}  # fmt: skip
    server = LiveServer(data_dir=data_dir, database_url=database_url, env=fast).start()
    try:
        env = {
            "BEACON_DATABASE_URL": database_url,
            "BEACON_DATA_DIR": str(data_dir),
            "BEACON_PIXEL_SEGMENT_MAX_BYTES": "1",  # one event per segment
            "BEACON_PIXEL_SPOOL_FSYNC": "false",
        }
        args = ("ingest-log", "--campaign", str(cid), "--site", "https://www.example.com")
        result = run_cli(*args, str(log), env=env)
    finally:
        server.stop(signal.SIGTERM)
    assert result.returncode == 0, result.stderr
    assert f"Read {lines} lines: {lines} events spooled" in result.stdout
    assert f"Flushed {lines} hits into the rollups (0 rejected)." in result.stdout
    assert _hits(db) == lines


def _ingest_in_process(env: dict[str, str], *args: str) -> Result:
    """`beacon ingest-log` run in this process, so that a test can patch what it calls."""
    from beacon import cli

    return CliRunner().invoke(cli.app, ["ingest-log", *args], env=env)


def test_a_quarantined_segment_is_said_quarantined_not_waiting(
    tmp_path: Path, database_url: str, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its segment was reported as "waiting", for `beacon serve` to count: a quarantined
    # segment is never counted by anyone until a person looks at it.
    cid = _campaign(db)
    log = tmp_path / "access.log"
    log.write_text(LOG)

    def poison(self: HitEnricher, record: bytes) -> None:
        raise RuntimeError("a record the enrichment cannot handle")

    monkeypatch.setattr(HitEnricher, "count_key", poison)
    env = {"BEACON_DATABASE_URL": database_url, "BEACON_DATA_DIR": str(tmp_path / "data")}
    result = _ingest_in_process(
        env, "--campaign", str(cid), "--site", "https://x.example", str(log)
    )
    assert result.exit_code == 0, result.output
    assert "Flushed 0 hits into the rollups (0 rejected)." in result.stdout
    quarantine = tmp_path / "data" / "spool" / "pixel" / "quarantine"
    assert len(list(quarantine.glob("*.seg"))) == 1
    assert "1 spool segment(s) of this run could not be counted and were quarantined" in (
        result.stderr
    )
    assert str(quarantine) in result.stderr
    assert "stay in the spool" not in result.stderr and "beacon serve" not in result.stderr
    assert _hits(db) == 0


def test_segment_counts_are_looked_up_by_primary_key(
    tmp_path: Path, database_url: str, db: Database
) -> None:
    # A LIKE 'stem.%' lookup scanned the whole table (30 days of segments) once per segment.
    cid = _campaign(db)
    log = tmp_path / "access.log"
    log.write_text(LOG)
    statements: list[tuple[str, object]] = []

    def capture(conn: object, cursor: object, statement: str, parameters: object,
                context: object, executemany: bool) -> None:  # fmt: skip
        if statement.lstrip().upper().startswith("SELECT") and "pixel_spool_segments" in statement:
            statements.append((statement, parameters))

    env = {"BEACON_DATABASE_URL": database_url, "BEACON_DATA_DIR": str(tmp_path / "data"),
           "BEACON_PIXEL_SEGMENT_MAX_BYTES": "1"}  # fmt: skip
    event.listen(Engine, "before_cursor_execute", capture)
    try:
        args = ("--campaign", str(cid), "--site", "https://www.example.com", str(log))
        result = _ingest_in_process(env, *args)
    finally:
        event.remove(Engine, "before_cursor_execute", capture)
    assert result.exit_code == 0, result.output
    assert "Flushed 3 hits into the rollups (0 rejected)." in result.stdout
    assert statements
    with db.engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:  # any usable index, however few the rows
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        for statement, parameters in statements:
            explain = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
            plan = " ".join(
                str(row[-1]) for row in conn.exec_driver_sql(explain + statement, parameters)
            )
            index = "pk_pixel_spool_segments" if postgres else "sqlite_autoindex_pixel_spool"
            assert index in plan and "Seq Scan" not in plan, (statement, plan)


def _spool_events(spool_dir: Path, campaign_id: int, pages: list[str]) -> None:
    with Spool(spool_dir) as spool:
        for page in pages:
            spool.append(
                event_record(ts=1768471200.0, campaign_id=campaign_id, url=page,
                             user_agent=CHROME, ip="71.192.0.1", country=None, macros={})
            )  # fmt: skip


def test_leftovers_of_earlier_runs_are_flushed_and_reported_apart(
    tmp_path: Path, database_url: str, db: Database
) -> None:
    # A run whose flush failed saved its byte offset all the same: its hits were only in the
    # spool, and a cron-only site (no `beacon serve`) never counted them.
    cid = _campaign(db)
    spool_dir = tmp_path / "data" / "spool" / "pixel"
    _spool_events(
        spool_dir, cid, ["https://www.example.com/old/1", "https://www.example.com/old/2"]
    )
    orphan = spool_dir / f"{1:020d}-999999-000001.open"  # a writer killed before sealing
    orphan.write_bytes(
        event_record(ts=1768471200.0, campaign_id=cid, url="https://www.example.com/old/3",
                     user_agent=CHROME, ip="71.192.0.1", country=None, macros={}) + b"\n"
    )  # fmt: skip
    log = tmp_path / "access.log"
    log.write_text(LOG)
    env = {"BEACON_DATABASE_URL": database_url, "BEACON_DATA_DIR": str(tmp_path / "data")}
    args = ("ingest-log", "--campaign", str(cid), "--site", "https://www.example.com")
    result = run_cli(*args, str(log), env=env)
    assert result.returncode == 0, result.stderr
    assert "Flushed 3 hits into the rollups (0 rejected)." in result.stdout  # this run's own
    assert (
        "Also flushed 3 hits (0 rejected) of 2 segment(s) left in the spool by earlier runs "
        "or other processes." in result.stdout
    )
    assert _hits(db) == 6
    assert not list(spool_dir.glob("*.seg")) and not list(spool_dir.glob("*.open"))


def test_a_segment_held_by_another_flusher_is_waited_for_within_a_limit(
    tmp_path: Path, database_url: str, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The wait for a segment a server's flusher held was a blocking flock: a flusher stuck
    # on a database lock hung a cron job forever.
    cid = _campaign(db)
    log = tmp_path / "access.log"
    log.write_text(LOG)
    held: list[int] = []
    seal = Spool._seal_current

    def sealed_and_taken(self: Spool) -> Path | None:
        sealed = seal(self)
        if sealed is not None:  # a server's flusher claims it at once, and keeps it
            fd = os.open(sealed, os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX)
            held.append(fd)
        return sealed

    monkeypatch.setattr(Spool, "_seal_current", sealed_and_taken)
    release = threading.Timer(5.0, lambda: [os.close(fd) for fd in held])
    release.start()
    env = {"BEACON_DATABASE_URL": database_url, "BEACON_DATA_DIR": str(tmp_path / "data")}
    args = ("--campaign", str(cid), "--site", "https://www.example.com", "--flusher-wait", "0.5")
    started = time.monotonic()
    try:
        result = _ingest_in_process(env, *args, str(log))
        elapsed = time.monotonic() - started
    finally:
        release.cancel()
        for fd in held:
            with contextlib.suppress(OSError):
                os.close(fd)
    assert result.exit_code == 0, result.output
    assert elapsed < 4, elapsed
    assert len(held) == 1
    assert "waiting for the server's flusher…" in result.stderr
    assert "Flushed 0 hits into the rollups (0 rejected)." in result.stdout
    assert (
        "1 spool segment(s) of this run are still held by another flusher after 0.5 s"
        in result.stderr
    )
    assert _hits(db) == 0
