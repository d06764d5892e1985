"""`beacon ingest-log`: combined-format access logs become counted server-side events."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.support import LiveServer, run_cli

from beacon.core.db import Database
from beacon.pixel.enrich import HitRejected
from beacon.pixel.ingest_log import UnreadableLog, check_readable, parse_line
from beacon.pixel.models import PixelCampaign, PixelRollup

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
