"""Flusher benchmark without HTTP: how fast sealed spool segments go into the rollups.

    python -m bench.collector.flush [--distinct-urls 50000] [--hits 200000]
        [--segment-hits 20000] [--client-ip 127.0.0.1] [--database-url URL] [--profile]
        [--enrich-only] [--per-table]

Writes ``--hits`` spool records (the GIF hits `run.py`'s load sends, same URLs and
User-Agents) into segments of ``--segment-hits`` records (a 1 s segment at 20,000 hits/s),
then times `SpoolConsumer.flush` over them on a fresh database (SQLite in a temporary
directory, or ``--database-url``: its public schema is dropped first). ``--profile``
prints the top of a cProfile of the flush and the shares of time spent compiling SQL and
enriching hits.
``--enrich-only`` times the enrichment alone (`HitEnricher`, no database) over the same
records, in microseconds of CPU per record. The live figures, with the server and the load
on the same CPUs, are `run.py`'s.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.collector.load import UAS, pixel_paths
from sqlalchemy import Table, create_engine, text
from sqlalchemy.orm import Session

from beacon.core.config import Settings
from beacon.core.db import Database, upgrade_database
from beacon.core.models import Account
from beacon.pixel import rollups
from beacon.pixel.factory import make_consumer, open_spool
from beacon.pixel.geo import CountryResolver
from beacon.pixel.hits import HitEnricher, gif_record
from beacon.pixel.ivt import detector_from_settings
from beacon.pixel.models import PixelCampaign
from beacon.pixel.profiling import compile_share, cumulative_seconds, total_seconds
from beacon.pixel.upserts import Row


def enrichment_share(stats: pstats.Stats) -> float:
    """Share of the flush in `HitEnricher.count_key` (`rollup_key` on servers before it)."""
    seconds = max(
        cumulative_seconds(stats, "beacon/pixel/hits.py", name)
        for name in ("count_key", "rollup_key")
    )
    total = total_seconds(stats)
    return seconds / total if total else 0.0


def write_segments(spool_dir: Path, campaign_id: int, args: argparse.Namespace) -> None:
    spool_dir.mkdir(parents=True)
    paths = pixel_paths(campaign_id, args.distinct_urls)
    now = time.time()
    for segment in range(0, args.hits, args.segment_hits):
        lines = []
        for i in range(segment, min(segment + args.segment_hits, args.hits)):
            query = paths[i % len(paths)].split("?", 1)[1]
            ua = UAS[i % len(UAS)]
            lines.append(gif_record(now, campaign_id, args.client_ip, query, "", ua, None))
        name = f"{time.time_ns():020d}-0-{segment:06d}.seg"
        (spool_dir / name).write_bytes(b"\n".join(lines) + b"\n")


def enrich_only(settings: Settings, spool_dir: Path) -> None:
    """Time the enrichment of every record written, without the database."""
    records = [
        line for path in sorted(spool_dir.glob("*.seg")) for line in path.read_bytes().splitlines()
    ]
    enricher = HitEnricher(CountryResolver(), detector_from_settings(settings))
    # `count_key` since the flusher counts tuples; `rollup_key` on older servers' code.
    enrich = getattr(enricher, "count_key", None) or enricher.rollup_key
    enrich(records[0])  # the bot lists compile on a detector's first hit: not part of the rate
    cpu = time.process_time()
    for record in records:
        enrich(record)
    cpu = time.process_time() - cpu
    print(
        f"enrichment alone: {len(records):,} records, {cpu / len(records) * 1e6:.1f} µs of CPU each"
    )


class TableTimes:
    """CPU and wall seconds and rows of each rollup table's upsert batches, while installed."""

    def __init__(self) -> None:
        self.spent: dict[str, list[float]] = {}
        self._add_rows = rollups.add_rows

    def install(self) -> None:
        def timed(session: Session, table: Table, *args: Any, **kwargs: Any) -> None:
            rows: list[Row] = args[-1]  # (rows) before session 8, (columns, rows) since
            count, cpu, wall = len(rows), time.process_time(), time.perf_counter()
            self._add_rows(session, table, *args, **kwargs)
            spent = self.spent.setdefault(table.name, [0.0, 0.0, 0.0])
            spent[0] += time.process_time() - cpu
            spent[1] += time.perf_counter() - wall
            spent[2] += count

        rollups.add_rows = timed  # type: ignore[assignment]

    def report(self, hits: int) -> None:
        for name, (cpu, wall, rows) in self.spent.items():
            print(
                f"  {name:18s} {rows:9,.0f} rows ({rows / hits:.2f} per hit): "
                f"{cpu:6.2f} s CPU, {wall:6.2f} s wall"
            )


def prepare(database_url: str) -> int:
    if database_url.startswith("postgresql"):
        engine = create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    upgrade_database(database_url)
    db = Database(database_url)
    with db.transaction() as session:
        account = Account(name="bench")
        session.add(account)
        session.flush()
        campaign = PixelCampaign(account_id=account.id, name="bench", use_case="campaign_reporting")
        session.add(campaign)
        session.flush()
        campaign_id = campaign.id
    db.dispose()
    return campaign_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--distinct-urls", type=int, default=50_000)
    parser.add_argument("--hits", type=int, default=200_000)
    parser.add_argument("--segment-hits", type=int, default=20_000)
    parser.add_argument("--client-ip", default="127.0.0.1")
    parser.add_argument("--database-url")
    parser.add_argument("--per-table", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--enrich-only", action="store_true")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="beacon-flush-bench-"))
    if args.enrich_only:
        write_segments(base / "spool", 1, args)
        enrich_only(Settings(data_dir=base / "data"), base / "spool")
        shutil.rmtree(base, ignore_errors=True)
        return
    database_url = args.database_url or f"sqlite:///{base / 'beacon.db'}"
    campaign_id = prepare(database_url)
    settings = Settings(
        data_dir=base / "data", database_url=database_url, pixel_spool_dir=base / "spool"
    )
    write_segments(base / "spool", campaign_id, args)
    db = Database(database_url)
    spool = open_spool(settings)
    consumer = make_consumer(settings=settings, db=db, spool=spool)
    # the bot lists compile on a detector's first hit (once a flusher process): not part of
    # the rate, as when they compiled at start
    consumer.enricher.ivt.agents.classify("Mozilla/5.0")
    tables = TableTimes()
    if args.per_table:
        tables.install()
    profiler = cProfile.Profile() if args.profile else None
    started, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    result = consumer.flush()
    if profiler is not None:
        profiler.disable()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    backend = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
    print(
        f"{backend}, {args.distinct_urls:,} distinct URLs: {result.counted:,} hits in "
        f"{result.segments} segments flushed in {seconds:.2f} s = "
        f"{result.counted / seconds:,.0f} hits/s ({cpu:.2f} s of CPU in this process: "
        f"{result.counted / cpu:,.0f} hits per CPU-second)"
    )
    if args.per_table:
        tables.report(result.counted)
    if profiler is not None:
        stats = pstats.Stats(profiler)
        print(f"share of flush time compiling SQL: {compile_share(stats):.1%}")
        print(f"share of flush time enriching hits: {enrichment_share(stats):.1%}")
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        print(out.getvalue())
    spool.close()
    db.dispose()
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
