"""Report benchmark: campaign reports over 10 million pixel loads, on SQLite and PostgreSQL.

    python bench/reports/run.py [--backend sqlite|postgres|both] [--loads 10000000,1000000]
                                [--repeat 3] [--write-docs]

PostgreSQL comes from BEACON_BENCH_POSTGRES_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/beacon_h3); its public schema is DROPPED and
rebuilt by the migrations. SQLite is a file in a temporary directory.

The loads are simulated hit by hit (numpy, fixed seed) and aggregated the way the collector
would have: one rollup row per campaign, day, domain, URL, device, country, traffic type,
agent and macro set, holding the number of loads. The rows (their counts sum to exactly
``--loads``) are bulk-loaded with COPY on PostgreSQL and executemany in large transactions on
SQLite, then each report is timed end to end through the real code: the report row is queued
by the report service, a `Worker` claims it and runs the report job (aggregation SQL, row
shaping, result rows stored), and the first page is read back by the service as GET does.

Traffic model (documented in docs/benchmarks.md): 2,000 domains with Zipf popularity
(s = 1); 50,000 URLs, one home page per domain (20% of the domain's loads, spread evenly over
the 90 days) and 48,000 articles spread over domains by popularity, Zipf within a domain,
each with loads decaying from a publish day (exponential, mean 5 days); device desktop 36%,
mobile 54%, tablet 6%, ctv 2%, unknown 2%; 30 countries (US 45%, ...); traffic 91% human,
6% bots (named or not), 3% AI agents; macros as in the seed's example (`google-site`,
expanded to the page's domain, absent on 2% of loads), with 5% of domains declaring a premium
domain on 60% of their loads (misrepresented inventory).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import Connection, event, text

from beacon.core import auth
from beacon.core.config import Settings
from beacon.core.db import Database, make_engine, upgrade_database
from beacon.core.jobs import COMPLETE, Worker
from beacon.pixel import service as campaign_service
from beacon.pixel.reports import service as report_service
from beacon.pixel.reports.models import CAMPAIGN, PixelReport
from beacon.pixel.reports.schemas import CampaignReportCreate
from beacon.pixel.rollups import RollupKey, canonical_macros
from beacon.pixel.schemas import CampaignCreate, UseCase
from beacon.pixel.tasks import report_job

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Campaign reports"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/beacon_h3"
START = dt.date(2026, 1, 1)
DAYS = 90
CHUNK = 200_000
COLUMNS = (
    "campaign_id", "date", "dims_hash", "domain", "url", "device", "geo", "traffic_type",
    "agent", "macros", "misrepresented", "hits",
)  # fmt: skip
DEVICES = (("desktop", 0.36), ("mobile", 0.54), ("tablet", 0.06), ("ctv", 0.02), ("", 0.02))
COUNTRIES = (
    ("US", 45), ("GB", 10), ("CA", 6), ("DE", 5), ("FR", 4), ("AU", 3), ("IN", 3), ("BR", 2),
    ("ES", 2), ("IT", 2), ("NL", 2), ("MX", 2), ("JP", 2), ("SE", 1), ("IE", 1), ("PL", 1),
    ("BE", 1), ("CH", 1), ("AT", 1), ("DK", 1), ("NO", 1), ("NZ", 1), ("SG", 1), ("ZA", 1),
    ("AR", 1), ("PT", 0.5), ("FI", 0.5), ("KR", 0.5), ("PH", 0.5), ("", 0.5),
)  # fmt: skip
TRAFFIC = (
    ("human", "", 0.91),
    ("bot", "Googlebot", 0.024), ("bot", "bingbot", 0.012), ("bot", "AhrefsBot", 0.006),
    ("bot", "SemrushBot", 0.006), ("bot", "", 0.012),
    ("ai_agent", "GPTBot", 0.0105), ("ai_agent", "ClaudeBot", 0.006),
    ("ai_agent", "PerplexityBot", 0.0045), ("ai_agent", "ChatGPT-User", 0.0045),
    ("ai_agent", "Bytespider", 0.0045),
)  # fmt: skip
PREMIUM = ("nytimes.com", "cnn.com", "espn.com", "forbes.com")
SECTIONS = ("news", "sport", "business", "technology", "travel", "food", "health", "culture")
WORDS = ("daily", "metro", "sports", "tech", "food", "travel", "money", "style", "auto", "home")
TLDS = ("com", "com", "com", "co.uk", "net", "org", "de", "fr", "com.au", "ca")
REPORTS = (("date", "domain"), ("url",))


@dataclass(frozen=True)
class Traffic:
    """The simulated campaign: dimension tables and one aggregated row per distinct key."""

    domains: list[str]
    urls: list[str]
    url_domain: np.ndarray
    keys: np.ndarray
    counts: np.ndarray
    human_loads: int


# --- Simulation --------------------------------------------------------------------------------

_URL_BITS, _DEVICE_BITS, _GEO_BITS, _TRAFFIC_BITS = 16, 3, 5, 4


def _pick(rng: np.random.Generator, size: int, weights: list[float]) -> np.ndarray:
    p = np.asarray(weights, dtype=float)
    return rng.choice(len(p), size=size, p=p / p.sum()).astype(np.int64)


def simulate(*, loads: int, n_urls: int, n_domains: int, seed: int = 20260101) -> Traffic:
    """Draw ``loads`` pixel loads and aggregate them into rollup keys with counts."""
    rng = np.random.default_rng(seed)
    domains = [f"{WORDS[i % 10]}{i}.{TLDS[(i // 10) % 10]}" for i in range(n_domains)]
    domain_weight = 1.0 / np.arange(1, n_domains + 1)
    # Every domain has a home page; articles go to domains by popularity.
    article_domain = rng.choice(
        n_domains, size=n_urls - n_domains, p=domain_weight**0.7 / (domain_weight**0.7).sum()
    )
    url_domain = np.concatenate([np.arange(n_domains), article_domain])
    url_weight = np.zeros(n_urls)
    url_weight[:n_domains] = 0.2
    order = np.argsort(url_domain[n_domains:], kind="stable") + n_domains
    rank_in_domain = np.zeros(n_urls)
    sorted_domains = url_domain[order]
    starts = np.searchsorted(sorted_domains, np.arange(n_domains))
    rank_in_domain[order] = np.arange(len(order)) - starts[sorted_domains] + 1
    article_share = 1.0 / rank_in_domain[n_domains:] ** 0.8
    share_sum = np.bincount(url_domain[n_domains:], weights=article_share, minlength=n_domains)
    url_weight[n_domains:] = 0.8 * article_share / share_sum[url_domain[n_domains:]]
    url_weight[:n_domains][share_sum == 0] = 1.0
    probability = url_weight * domain_weight[url_domain]
    url = rng.choice(n_urls, size=loads, p=probability / probability.sum()).astype(np.int64)

    publish = rng.integers(-14, DAYS, size=n_urls)
    day = publish[url] + rng.exponential(5.0, size=loads).astype(np.int64)
    evergreen = (url < n_domains) | (day < 0) | (day >= DAYS)
    day[evergreen] = rng.integers(0, DAYS, size=int(evergreen.sum()))

    device = _pick(rng, loads, [w for _, w in DEVICES])
    geo = _pick(rng, loads, [w for _, w in COUNTRIES])
    traffic = _pick(rng, loads, [w for _, _, w in TRAFFIC])
    # Macro variant: 0 none, 1 google-site = observed domain, 2.. a premium domain declared.
    spoofer = rng.random(n_domains) < 0.05
    macro = np.ones(loads, dtype=np.int64)
    spoofed = spoofer[url_domain[url]] & (rng.random(loads) < 0.6)
    macro[spoofed] = 2 + rng.integers(0, len(PREMIUM), size=int(spoofed.sum()))
    macro[rng.random(loads) < 0.02] = 0

    # Day first: the collector creates a rollup row when the day's first hit for it arrives,
    # so rows are stored roughly in date order, and the load keeps that order.
    key = day
    for part, bits in (
        (url, _URL_BITS),
        (device, _DEVICE_BITS),
        (geo, _GEO_BITS),
        (traffic, _TRAFFIC_BITS),
        (macro, 3),
    ):
        key = (key << bits) | part
    del url, day, device, geo, macro
    keys, counts = np.unique(key, return_counts=True)
    human_loads = int((traffic == 0).sum())
    urls = [_url_text(i, domains[url_domain[i]], n_domains) for i in range(n_urls)]
    return Traffic(domains, urls, url_domain, keys, counts, human_loads)


def _url_text(index: int, domain: str, n_domains: int) -> str:
    if index < n_domains:
        return f"https://www.{domain}/"
    section = SECTIONS[index % len(SECTIONS)]
    month = 1 + index % 3
    return f"https://www.{domain}/{section}/2026/{month:02d}/story-{index}-headline-words"


def rollup_rows(traffic: Traffic, campaign_id: int) -> Iterator[list[tuple[object, ...]]]:
    """The rollup rows, in chunks, exactly as the collector's `increment` would store them."""
    macros_text = [""] + [canonical_macros({"google-site": d}) for d in ("", *PREMIUM)]
    for start in range(0, len(traffic.keys), CHUNK):
        keys = traffic.keys[start : start + CHUNK].tolist()
        counts = traffic.counts[start : start + CHUNK].tolist()
        chunk = []
        for key, count in zip(keys, counts, strict=True):
            macro = key & 7
            key >>= 3
            traffic_type, agent, _ = TRAFFIC[key & 15]
            key >>= _TRAFFIC_BITS
            geo = COUNTRIES[key & 31][0]
            key >>= _GEO_BITS
            device = DEVICES[key & 7][0]
            key >>= _DEVICE_BITS
            url_index = key & 0xFFFF
            date = START + dt.timedelta(days=key >> _URL_BITS)
            domain = traffic.domains[traffic.url_domain[url_index]]
            macros = canonical_macros({"google-site": domain}) if macro == 1 else macros_text[macro]
            rollup = RollupKey(
                campaign_id=campaign_id,
                date=date,
                domain=domain,
                url=traffic.urls[url_index],
                device=device,
                geo=geo,
                traffic_type=traffic_type,
                agent=agent,
                macros=macros,
                misrepresented=macro >= 2,
            )
            row = (campaign_id, date, rollup.dims_hash, domain, rollup.url, device, geo)
            chunk.append((*row, traffic_type, agent, macros, macro >= 2, count))
        yield chunk


# --- Loading -----------------------------------------------------------------------------------


def fresh_database(backend: str, workdir: Path) -> str:
    """An empty, migrated database URL for ``backend``."""
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}"
    url = os.environ.get("BEACON_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def create_campaign(db: Database) -> tuple[int, int]:
    """(account id, campaign id) of a fresh campaign_reporting campaign."""
    with db.transaction() as session:
        issued = auth.issue_api_key(session=session, account_name="bench")
        campaign = campaign_service.create_campaign(
            session=session,
            account_id=issued.account_id,
            data=CampaignCreate(name="10M loads", use_case=UseCase.campaign_reporting),
        )
        return issued.account_id, campaign.id


def load_rollups(db: Database, traffic: Traffic, campaign_id: int) -> int:
    """Bulk-load the rollup rows; returns how many."""
    total = 0
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if db.engine.dialect.name == "postgresql":
            # As pg_restore does: load the heap, then build the indexes (same end state).
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'pixel_rollups'::regclass AND contype = 'u'"
            )
            constraints = cursor.fetchall()
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'pixel_rollups' "
                "AND indexname NOT IN (SELECT conname FROM pg_constraint "
                "WHERE conrelid = 'pixel_rollups'::regclass)"
            )
            indexes = cursor.fetchall()
            for name, _ in constraints:
                cursor.execute(f"ALTER TABLE pixel_rollups DROP CONSTRAINT {name}")
            for name, _ in indexes:
                cursor.execute(f"DROP INDEX {name}")
            with cursor.copy(f"COPY pixel_rollups ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for chunk in rollup_rows(traffic, campaign_id):
                    for row in chunk:
                        copy.write_row(row)
                    total += len(chunk)
            cursor.execute("SET maintenance_work_mem = '512MB'")
            for name, definition in constraints:
                cursor.execute(f"ALTER TABLE pixel_rollups ADD CONSTRAINT {name} {definition}")
            for _, definition in indexes:
                cursor.execute(definition)
        else:
            # A large page cache keeps the unique-hash index in memory while it is built.
            cursor.execute("PRAGMA cache_size = -1000000")
            statement = (
                f"INSERT INTO pixel_rollups ({', '.join(COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in COLUMNS)})"
            )
            for chunk in rollup_rows(traffic, campaign_id):
                cursor.executemany(statement, [(*r[:1], r[1].isoformat(), *r[2:]) for r in chunk])
                raw.commit()
                total += len(chunk)
        raw.commit()
    finally:
        raw.close()
    return total


def analyze(db: Database) -> None:
    """Refresh planner statistics, as autovacuum (PostgreSQL) or `beacon` itself would."""
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM ANALYZE pixel_rollups")
            )
        else:
            conn.execute(text("ANALYZE"))
            conn.commit()


def bare_scan(db: Database, campaign_id: int) -> float:
    """Seconds for the simplest query over the whole range: the floor under any report."""
    statement = text(
        "SELECT sum(hits) FROM pixel_rollups WHERE campaign_id = :c AND date >= :s AND date <= :e"
    )
    end = START + dt.timedelta(days=DAYS - 1)
    with db.engine.connect() as conn:
        start = time.perf_counter()
        conn.execute(statement, {"c": campaign_id, "s": START, "e": end}).scalar()
        return time.perf_counter() - start


# --- Timing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """One report run; ``summary_s`` and ``rows_s`` are its two aggregation statements."""

    dimensions: tuple[str, ...]
    seconds: float
    first_page_seconds: float
    rows: int
    impressions: int
    summary_s: float
    rows_s: float


class StatementClock:
    """Wall time of the report job's summary statement and of its rows statement."""

    def __init__(self, db: Database) -> None:
        self.summary = self.rows = 0.0
        self._engine = db.engine

    def __enter__(self) -> StatementClock:
        event.listen(self._engine, "before_cursor_execute", self._before)
        event.listen(self._engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self._engine, "before_cursor_execute", self._before)
        event.remove(self._engine, "after_cursor_execute", self._after)

    def _before(self, conn: Connection, *_args: object) -> None:
        # Per connection: the lease heartbeat runs statements on another thread meanwhile.
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn: Connection, _cursor: object, statement: str, *_args: object) -> None:
        elapsed = time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())
        if "unique_urls" in statement:
            self.summary += elapsed
        elif statement.startswith("INSERT INTO pixel_report_rows"):
            self.rows += elapsed


def run_report(
    db: Database, settings: Settings, account_id: int, campaign_id: int, dims: tuple[str, ...]
) -> Timing:
    """Queue a report through the service, let a worker complete it, read its first page."""
    data = CampaignReportCreate(
        campaign_id=campaign_id,
        start_date=START,
        end_date=START + dt.timedelta(days=DAYS - 1),
        dimensions=list(dims),
    )
    worker = Worker(db=db, kinds=[report_job(settings)])
    with StatementClock(db) as clock:
        start = time.perf_counter()
        with db.transaction() as session:
            report, _ = report_service.create_campaign_report(
                session=session, account_id=account_id, data=data
            )
            report_id = report.id
        ran = worker.run_once()
        elapsed = time.perf_counter() - start
    page_start = time.perf_counter()
    with db.transaction() as session:
        page = report_service.get_report(
            session=session,
            account_id=account_id,
            kind=CAMPAIGN,
            report_id=report_id,
            limit=1000,
            offset=0,
        )
        done: PixelReport = page.report
        if not ran or done.status != COMPLETE or page.summary is None:
            raise RuntimeError(f"report {report_id} did not complete: {done.status} {done.error}")
        rows, impressions = done.row_count or 0, int(page.summary["impressions"])
    page_seconds = time.perf_counter() - page_start
    return Timing(dims, elapsed, page_seconds, rows, impressions, clock.summary, clock.rows)


def bench_backend(
    backend: str, traffic: Traffic, repeat: int, workdir: Path
) -> tuple[dict[str, float], list[Timing]]:
    """Load one backend and time each report ``repeat`` times."""
    url = fresh_database(backend, workdir)
    upgrade_database(url)
    db = Database(url)
    settings = Settings(database_url=url, data_dir=workdir / "data", worker_in_process=False)
    try:
        account_id, campaign_id = create_campaign(db)
        start = time.perf_counter()
        rows = load_rollups(db, traffic, campaign_id)
        load_seconds = time.perf_counter() - start
        start = time.perf_counter()
        analyze(db)
        analyze_seconds = time.perf_counter() - start
        print(f"[{backend}] loaded {rows:,} rollup rows in {load_seconds:.0f} s", flush=True)
        scan_seconds = bare_scan(db, campaign_id)
        print(f"[{backend}] bare scan (sum of hits): {scan_seconds:.2f} s", flush=True)
        timings = []
        for _ in range(repeat):
            for dims in REPORTS:
                timing = run_report(db, settings, account_id, campaign_id, dims)
                if timing.impressions != traffic.human_loads:
                    raise RuntimeError(f"impressions {timing.impressions} != {traffic.human_loads}")
                print(
                    f"[{backend}] {','.join(dims)}: {timing.seconds:.2f} s, {timing.rows:,} rows, "
                    f"first page {timing.first_page_seconds * 1000:.0f} ms",
                    flush=True,
                )
                timings.append(timing)
        facts = {
            "rollup_rows": rows,
            "load_s": load_seconds,
            "analyze_s": analyze_seconds,
            "scan_s": scan_seconds,
        }
        return facts, timings
    finally:
        db.dispose()


# --- Output ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One data size on one backend."""

    loads: int
    human_loads: int
    backend: str
    facts: dict[str, float]
    timings: list[Timing]


def render(args: argparse.Namespace, runs: list[Run], loadavg: tuple[float, float]) -> str:
    """The docs section."""
    sizes = ", ".join(f"{run.loads:,}" for run in runs if run.backend == runs[0].backend)
    lines = [
        SECTION,
        "",
        f"Measured by `python bench/reports/run.py --write-docs` on {dt.date.today()}: "
        f"campaigns of {sizes} pixel loads over {DAYS} days, {args.urls:,} URLs, "
        f"{args.domains:,} domains, aggregated into rollup rows as the collector would; each "
        "report is queued by the report service and run by a `Worker` (claim, aggregation "
        "SQL, rows stored, completion), timed from queueing to completion (`summary SQL` and "
        "`rows SQL` are its two aggregation statements); `first page` is the service read of "
        f"1,000 rows that GET does. Runs per report: {args.repeat}. Load average (1 min) on "
        f"the 2 shared CPUs: {loadavg[0]:.2f} before, {loadavg[1]:.2f} after.",
        "",
        "| loads | backend | report | rows | median | min | max | summary SQL | rows SQL "
        "| first page |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        for dims in REPORTS:
            timings = [t for t in run.timings if t.dimensions == dims]
            seconds = [t.seconds for t in timings]
            page = statistics.median(t.first_page_seconds for t in timings) * 1000
            summary = statistics.median(t.summary_s for t in timings)
            rows = statistics.median(t.rows_s for t in timings)
            lines.append(
                f"| {run.loads / 1e6:g}M | {run.backend} | `{','.join(dims)}` | "
                f"{timings[0].rows:,} | {statistics.median(seconds):.2f} s | "
                f"{min(seconds):.2f} s | {max(seconds):.2f} s | {summary:.2f} s | {rows:.2f} s | "
                f"{page:.0f} ms |"
            )
    lines += [
        "",
        "| loads | backend | rollup rows | bulk load | bare scan of the range (`sum(hits)`) |",
        "|---|---|---|---|---|",
    ]
    for run in runs:
        lines.append(
            f"| {run.loads / 1e6:g}M | {run.backend} | {int(run.facts['rollup_rows']):,} | "
            f"{run.facts['load_s']:.0f} s | {run.facts['scan_s']:.2f} s |"
        )
    lines += ["", NOTES.strip(), ""]
    return "\n".join(lines)


NOTES = """
**Target (each report under 3 s at 10M loads): missed on both backends** (see the medians
above). Where the time goes: the rollup grain (day, domain, URL, device, country, traffic
type, agent, macro set) barely compresses long-tail traffic — 10M loads become 6.2M rollup
rows (0.62 per load: most URL-days have a few loads, and device, country and traffic type
split them further) — so a 90-day report aggregates ~6M rows twice, once for the summary
(impressions, unique URLs and domains, invalid traffic) and once for its rows. The bare
`sum(hits)` scan shows the floor for a single pass at the time of the run; GROUP BY over
text keys costs several times that (SQLite always sorts for GROUP BY and count(DISTINCT)).
At 1M loads (845k rollup rows) PostgreSQL is near the target and SQLite about twice it; there
storing the result rows is the larger part on PostgreSQL (see the foreign-key cost below).

What was changed (src/beacon/pixel/reports/): the rows are aggregated, shaped as JSON by the
database, numbered with `row_number()` in report order and stored in one `INSERT .. SELECT`
(before, every result row went through Python — fetch, shape, ORM insert: profiled at
300k loads, that was 3.2 s for 75k result rows, more than the SQL); campaign rows
aggregate human rollups only; on PostgreSQL the summary's `count(DISTINCT)` (a sort over 6M
values) is a hashed `GROUP BY url, domain` first, and the report transaction gets
`work_mem = 256MB` so hash tables and the window sort stay in memory; on SQLite the rows
of an earlier attempt are deleted only on a retry, so the database write lock is taken by
the rows statement, not held through the summary. Reports that ask for classification keep
the per-row Python path (they look rows up in the classification store).

What would meet the target (not done here: it changes the collector's write path): aggregate
less. A second, report-grain rollup (campaign, day, domain, URL, macro set, misrepresented
-> human / bot / AI-agent loads), written by the same batched increment, has 1.5M rows for
this traffic (4.1x fewer; measured by grouping the 6.2M rows), and serves every campaign
report whose dimensions are within date/domain/url and filters within domains. Two further
measured costs: PostgreSQL checks the report-row foreign key once per stored row (~12 µs per
row; EXPLAIN ANALYZE, 59k rows), and on SQLite the rows statement holds the single write lock
for its whole duration, so the collector's flush and the job's lease heartbeat wait (the
`lease renewal failed` warnings of long SQLite runs).

Traffic model (`bench/reports/run.py`, fixed seed): domain popularity Zipf (s = 1); one home
page per domain (20% of its loads, spread over the 90 days) and 48,000 articles whose loads
decay from a publish day (exponential, mean 5 days), Zipf within a domain; device desktop
36% / mobile 54% / tablet 6% / ctv 2% / unknown 2%; 30 countries (US 45%); 91% human, 6%
bots (Googlebot, bingbot, AhrefsBot, SemrushBot, unnamed), 3% AI agents (GPTBot, ClaudeBot,
PerplexityBot, ChatGPT-User, Bytespider); macros as in the seed's example, `google-site`
expanded to the page's domain (absent on 2% of loads), and 5% of domains declaring a
premium domain on 60% of their loads (misrepresented). Rows are stored in day order, as the
collector creates them. Report rows are one per distinct dimension combination and macro
set, as the seed requires, so `date,domain` has about 1.5 rows per domain and day. Every run
checks that the summary's impressions equal the simulated human loads. A pixel tag that
passes a cache buster or the page URL as a macro would make nearly every load its own rollup
row and its own report row (the collector keeps every non-reserved parameter as a macro).
"""


def write_docs(section: str) -> None:
    """Replace (or append) this benchmark's section of docs/benchmarks.md."""
    current = DOCS.read_text(encoding="utf-8")
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _m: section + "\n", current)
    else:
        updated = current.rstrip("\n") + "\n\n" + section
    DOCS.write_text(updated.rstrip("\n") + "\n", encoding="utf-8")


def main() -> int:
    """Simulate, load each backend, time the reports, print (and optionally document) them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--loads", default="10000000,1000000", help="comma-separated campaign sizes (loads)"
    )
    parser.add_argument("--urls", type=int, default=50_000)
    parser.add_argument("--domains", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    before = os.getloadavg()[0]
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    runs = []
    for loads in (int(size) for size in args.loads.split(",")):
        start = time.perf_counter()
        traffic = simulate(loads=loads, n_urls=args.urls, n_domains=args.domains)
        print(
            f"simulated {loads:,} loads -> {len(traffic.keys):,} rollup rows "
            f"in {time.perf_counter() - start:.0f} s",
            flush=True,
        )
        for backend in backends:
            with tempfile.TemporaryDirectory(prefix="beacon-bench-reports-") as workdir:
                facts, timings = bench_backend(backend, traffic, args.repeat, Path(workdir))
            runs.append(Run(loads, traffic.human_loads, backend, facts, timings))
    section = render(args, runs, (before, os.getloadavg()[0]))
    print(section)
    if args.write_docs:
        write_docs(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
