"""Stats benchmark: `GET /v1/pixel/campaigns/{id}/stats` on a campaign of 10 million loads.

    python bench/reports/stats.py [--backend sqlite|postgres|both] [--loads 10000000]
                                  [--repeat 20] [--write-docs]
                                  [--keep DIR [--load-only | --reuse]]

The campaign is the report benchmark's (`bench/reports/run.py`: same simulation, bulk load
and back-fill of the report-grain rollups). Each request goes through the real application
over ASGI (API key, validation, the stats service, JSON), so a timing is what a client on
loopback waits minus the socket. The first request of the range fills the stats cache from
the full grain (timed apart as `cold`); every later request reads it warm, as a dashboard does.
PostgreSQL comes from BEACON_BENCH_POSTGRES_URL (its public schema is DROPPED when loading).

Loading 10M loads takes many minutes, so a loaded database can be kept and measured again:
``--keep DIR`` keeps the SQLite file at ``DIR/bench.db`` (PostgreSQL is kept anyway),
``--load-only`` stops after loading, and ``--reuse`` skips the simulation and the load and
measures the databases already there (migrating them first, so a newer schema applies;
``--refold`` undoes their folded summaries first, so the fold is timed again).
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
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from beacon.app import create_app
from beacon.core import auth
from beacon.core.config import Settings
from beacon.core.db import Database, upgrade_database
from beacon.pixel.models import PixelCampaign, PixelRollup, PixelSiteDay
from beacon.pixel.stats import fold_repository, folds
from beacon.pixel.stats.models import PixelStatsAgent as A
from beacon.pixel.stats.models import PixelStatsDomainAgent as DA
from beacon.pixel.stats.models import PixelStatsFolded as F
from beacon.pixel.stats.models import PixelStatsSite as S
from beacon.pixel.stats.models import PixelStatsUrl as U

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as reports_bench

DOCS = reports_bench.DOCS
SECTION = "## Campaign stats with domain summaries (issue 14, 2026-12-04, session 7)"
TARGET_MS = 300.0
SUMMARY_TABLES = tuple(model.__tablename__ for model in (A, DA, S, U, F))
END = reports_bench.START + dt.timedelta(days=reports_bench.DAYS - 1)


@dataclass(frozen=True)
class Request:
    label: str
    query: str
    target: bool = False


def requests(top_domain: str) -> list[Request]:
    """The requests timed: the dashboard's (every breakdown), narrower ones, filtered ones."""
    whole = f"start_date={reports_bench.START}&end_date={END}"
    last30 = f"start_date={END - dt.timedelta(days=29)}&end_date={END}"
    return [
        Request("90 days, every breakdown (the dashboard)", whole, target=True),
        Request("last 30 days, every breakdown", last30, target=True),
        Request(
            "90 days, totals and series only (`dimension=device`)",
            f"{whole}&dimension=device",
            target=True,
        ),
        Request("90 days, `dimension=url`", f"{whole}&dimension=url", target=True),
        Request("90 days, filter `device=mobile`", f"{whole}&device=mobile", target=True),
        Request("90 days, filter `country=US,GB`", f"{whole}&country=US,GB", target=True),
        Request(
            f"90 days, filter `domain={top_domain}` (the top domain)",
            f"{whole}&domain={top_domain}",
            target=True,
        ),
        Request(
            "90 days, filter `domain=daily1500.com` (a small domain)",
            f"{whole}&domain=daily1500.com",
            target=True,
        ),
        Request(
            "last 30 days, filters `domain` + `device`",
            f"{last30}&domain={top_domain}&device=mobile",
            target=True,
        ),
        Request(
            "90 days, filters `domain` + `device`",
            f"{whole}&domain={top_domain}&device=mobile",
            target=True,
        ),
        Request(
            "90 days, filters `device` + `country` (top URLs from the daily tables)",
            f"{whole}&device=mobile&country=US",
        ),
        Request(
            "90 days, filters `device` + `country`, no URLs",
            f"{whole}&device=mobile&country=US&dimension=domain,device,country,agent,misrepresented",
            target=True,
        ),
    ]


@dataclass(frozen=True)
class Timing:
    request: Request
    cold_ms: float
    samples: list[float]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def database_url(backend: str, workdir: Path) -> str:
    """Where ``backend``'s benchmark database is (without touching it)."""
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}"
    return os.environ.get("BEACON_BENCH_POSTGRES_URL", reports_bench.DEFAULT_POSTGRES)


def load(backend: str, loads: int, traffic: reports_bench.Traffic, workdir: Path) -> str:
    """A fresh database of ``backend`` holding the simulated campaign; its URL."""
    url = reports_bench.fresh_database(backend, workdir)
    upgrade_database(url)
    db = Database(url)
    try:
        _, campaign_id = reports_bench.create_campaign(db)
        rows = reports_bench.load_rollups(db, traffic, campaign_id)
        reports_bench.load_report_grain(db)
        reports_bench.analyze(db)
        print(f"[{backend}] {loads:,} loads in {rows:,} rollup rows", flush=True)
    finally:
        db.dispose()
    return url


def fold_all(db: Database, *, campaign_id: int) -> int:
    """Fold every closed day into the stats summaries, as the folding job does; days folded."""
    return folds.fold_campaign(
        transaction=db.transaction, campaign_id=campaign_id, before=folds.closed_before()
    )


def unfold_all(db: Database, *, campaign_id: int) -> None:
    """Undo every folded month, so the fold is timed from nothing again."""
    with db.transaction() as session:
        marks = fold_repository.folded(session, campaign_id=campaign_id)
        for month in sorted({fold_repository.month_of(day) for day in marks}):
            fold_repository.unfold_month(session, campaign_id=campaign_id, month=month)


def bench_backend(
    backend: str,
    url: str,
    top_domain: str,
    repeat: int,
    workdir: Path,
    *,
    refold: bool,
    fold_only: bool = False,
) -> tuple[dict[str, float], list[Timing]]:
    """Fold the loaded campaign's closed days, then time every request ``repeat`` times
    after a cold first one."""
    upgrade_database(url)
    db = Database(url)
    try:
        with db.transaction() as session:
            campaign_id = session.scalar(select(func.max(PixelCampaign.id)))
            rows = session.scalar(select(func.count()).select_from(PixelRollup))
            human_loads = int(session.scalar(select(func.sum(PixelSiteDay.human))) or 0)
        assert campaign_id is not None
        if refold:
            unfold_all(db, campaign_id=campaign_id)
        start = time.perf_counter()
        folded = fold_all(db, campaign_id=campaign_id)
        fold_s = time.perf_counter() - start
        print(f"[{backend}] folded {folded} days in {fold_s:.1f} s", flush=True)
        # what autovacuum (PostgreSQL) does after the fold's inserts
        reports_bench.analyze(db, SUMMARY_TABLES)
        if fold_only:
            return {"rollup_rows": float(rows or 0), "fold_s": fold_s, "folded": folded}, []
        with db.transaction() as session:
            key = auth.issue_api_key(session=session, account_name="bench").key
        settings = Settings(
            database_url=url,
            data_dir=workdir / "data",
            worker_in_process=False,
            rate_limit="1000000/minute",
        )
        app = create_app(settings, run_worker=False)
        headers = {"X-API-Key": key}
        timings = []
        with TestClient(app) as client:
            for request in requests(top_domain):
                path = f"/v1/pixel/campaigns/{campaign_id}/stats?{request.query}"
                start = time.perf_counter()
                response = client.get(path, headers=headers)
                cold = (time.perf_counter() - start) * 1000
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code} {response.text}")
                samples = []
                for _ in range(repeat):
                    start = time.perf_counter()
                    response = client.get(path, headers=headers)
                    samples.append((time.perf_counter() - start) * 1000)
                    assert response.status_code == 200
                body = response.json()
                unfiltered = not re.search(r"(domain|device|country)=", request.query)
                whole = request.query.startswith(f"start_date={reports_bench.START}")
                if unfiltered and whole and body["totals"]["human"] != human_loads:
                    raise RuntimeError(f"human {body['totals']['human']} != {human_loads}")
                timing = Timing(request, cold, samples)
                print(
                    f"[{backend}] {request.label}: cold {cold:.0f} ms, p50 {timing.p50:.0f} ms, p95 {timing.p95:.0f} ms",
                    flush=True,
                )
                timings.append(timing)
        return {"rollup_rows": float(rows or 0), "fold_s": fold_s, "folded": folded}, timings
    finally:
        db.dispose()


def intro(args: argparse.Namespace, loads: int) -> str:
    """The section's first lines: what is measured, and how."""
    return "\n".join(
        [
            SECTION,
            "",
            "Measured by `python bench/reports/stats.py --backend B --keep DIR --reuse "
            "--write-docs` (each backend's database loaded once by `--keep DIR --load-only`; a "
            "run replaces only its backend's table below): `GET /v1/pixel/campaigns/{id}/stats` "
            f"(top 10) on the report benchmark's campaign of {loads:,} pixel loads over "
            f"{reports_bench.DAYS} days ({args.urls:,} URLs, {args.domains:,} domains), through "
            "the application over ASGI (key check, validation, service, JSON). `cold` is the "
            f"first request of a range; p50 / p95 over {args.repeat} requests after it. The "
            f"target: p95 under {TARGET_MS:g} ms, warm, for every request marked *target*.",
            "",
        ]
    )


def render_backend(
    backend: str,
    facts: dict[str, float],
    timings: list[Timing],
    loadavg: tuple[float, float],
) -> str:
    """One backend's table and verdict (a ``### backend`` block of the section)."""
    lines = [
        f"### {backend}",
        "",
        f"{dt.date.today()}; load average (1 min) on the 2 shared CPUs: {loadavg[0]:.2f} before, "
        f"{loadavg[1]:.2f} after. Fold of {facts['folded']:,.0f} closed days into the summaries "
        f"before the requests: {facts['fold_s']:,.1f} s (0 when the kept database was folded "
        "by an earlier run; later runs fold only new or changed days).",
        "",
        "| request | target | cold | p50 | p95 |",
        "|---|---|---|---|---|",
    ]
    for t in timings:
        mark = "yes" if t.request.target else "no"
        lines.append(
            f"| {t.request.label} | {mark} | {t.cold_ms:,.0f} ms | {t.p50:,.0f} ms "
            f"| {t.p95:,.0f} ms |"
        )
    checked = [t for t in timings if t.request.target]
    missed = [f"{t.request.label} ({t.p95:.0f} ms)" for t in checked if t.p95 >= TARGET_MS]
    worst = max(t.p95 for t in checked)
    verdict = "missed on " + "; ".join(missed) if missed else "met"
    lines += ["", f"**Target on {backend}: {verdict}** (worst target p95 {worst:.0f} ms).", ""]
    return "\n".join(lines)


NOTES = """
Where the numbers come from (docs/measure.md, "Campaign stats"): the flush writes only the
daily rollups; the folding job (`pixel_stats_fold`) folds every closed day into month rows of
agents (`pixel_stats_agents`, also per day), sites (`pixel_stats_sites`) and URLs
(`pixel_stats_urls`) at the device / country levels, and of each domain's devices, countries
and agents (`pixel_stats_domain_agents`, also per day), and adds the same sums to the
campaign's `whole` rows (every folded month summed). A request reads whichever is fewer row
sets (`stats/summaries.py`): its months (minus folded days outside the range), or the whole
rows minus the folded months and days outside it, plus days not folded yet. "90 days" here is
the whole campaign. "Last 30 days" is March minus March 1. A `domain` filter reads its
domain's rows (series from their day rows) and the site and URL rows of that domain. The
URL rows keep no device × country level: top URLs under `device` and `country` together
still come from the daily tables (reported, not a target); the same filters without the URL
breakdown are a target.
"""


def write_docs(section_intro: str, backend: str, block: str) -> None:
    """Replace (or add) ``backend``'s block of this benchmark's section of docs/benchmarks.md
    (the section is appended when missing); other backends' blocks are kept."""
    current = DOCS.read_text(encoding="utf-8")
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    found = pattern.search(current)
    body = found.group(0) if found else section_intro + "\n" + NOTES.strip() + "\n"
    own = re.compile(rf"^### {re.escape(backend)}\n.*?(?=^### |^Where the numbers|\Z)", re.S | re.M)
    if own.search(body):
        body = own.sub(lambda _m: block + "\n", body)
    else:
        at = body.index("Where the numbers come from")
        body = body[:at] + block + "\n" + body[at:]
    if found:
        updated = current[: found.start()] + body.rstrip("\n") + "\n\n" + current[found.end() :]
    else:
        updated = current.rstrip("\n") + "\n\n" + body
    DOCS.write_text(updated.rstrip("\n") + "\n", encoding="utf-8")


def main() -> int:
    """Simulate, load each backend, time the requests, print (and optionally document) them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--loads", type=int, default=10_000_000)
    parser.add_argument("--urls", type=int, default=50_000)
    parser.add_argument("--domains", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the SQLite database in this directory")
    parser.add_argument("--load-only", action="store_true", help="load, then stop")
    parser.add_argument("--reuse", action="store_true", help="measure the kept databases")
    parser.add_argument(
        "--refold", action="store_true", help="undo the folded summaries first, to time the fold"
    )
    parser.add_argument(
        "--fold-only", action="store_true", help="with --reuse: migrate and fold, then stop"
    )
    args = parser.parse_args()
    if (args.load_only or args.reuse) and args.keep is None:
        parser.error("--load-only and --reuse need --keep DIR")
    if args.fold_only and not args.reuse:
        parser.error("--fold-only needs --reuse")
    before = os.getloadavg()[0]
    # The simulation's most popular domain (its first), without simulating when reusing.
    top_domain = f"{reports_bench.WORDS[0]}0.{reports_bench.TLDS[0]}"
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    runs = {}
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="beacon-bench-stats-") as temporary:
            workdir = args.keep or Path(temporary)
            workdir.mkdir(parents=True, exist_ok=True)
            url = database_url(backend, workdir)
            if not args.reuse:
                traffic = reports_bench.simulate(
                    loads=args.loads, n_urls=args.urls, n_domains=args.domains
                )
                assert traffic.domains[0] == top_domain
                url = load(backend, args.loads, traffic, workdir)
            if not args.load_only:
                runs[backend] = bench_backend(
                    backend,
                    url,
                    top_domain,
                    args.repeat,
                    workdir,
                    refold=args.refold,
                    fold_only=args.fold_only,
                )
    if args.load_only or args.fold_only:
        return 0
    after = os.getloadavg()[0]
    for backend, (facts, timings) in runs.items():
        block = render_backend(backend, facts, timings, (before, after))
        print(block)
        if args.write_docs:
            write_docs(intro(args, args.loads), backend, block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
