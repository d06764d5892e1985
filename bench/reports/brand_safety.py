"""Cost of the campaign-report filter ``brand_safety_max_risk`` (issue 16), SQLite and PostgreSQL.

    python bench/reports/brand_safety.py [--backend sqlite|postgres|both] [--loads 1000000]
                                         [--classified 0.9] [--repeat 3]

The traffic of `run.py` (50,000 URLs on 2,000 domains, 90 days), with a share of its URLs in
the classification store at random overall levels; each report (dimensions ``domain``, the
whole 90 days) is timed end to end through the report service and a worker, without the
filter (report-grain rollups), with the ``devices`` filter (the full grain, the cost the
brand-safety filter also pays) and with ``brand_safety_max_risk``. PostgreSQL comes from
BEACON_BENCH_POSTGRES_URL; its public schema is DROPPED.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from beacon.contextual import service as contextual_service
from beacon.contextual.models import UrlClassification
from beacon.core.config import Settings
from beacon.core.db import Database, upgrade_database
from beacon.core.jobs import COMPLETE
from beacon.core.worker import Worker
from beacon.pixel.reports import aggregation_repository, brand_safety_repository
from beacon.pixel.reports import service as report_service
from beacon.pixel.reports.models import CAMPAIGN
from beacon.pixel.reports.schemas import CampaignFilters, CampaignReportCreate
from beacon.pixel.tasks import report_job

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as reports_bench

LEVELS = ("none", "low", "medium", "high", "floor")
LEVEL_SHARES = (0.6, 0.2, 0.1, 0.07, 0.03)
FILTERS: dict[str, dict[str, Any]] = {
    "no filter": {},
    "devices=mobile": {"devices": ["mobile"]},
    "brand_safety_max_risk=low": {"brand_safety_max_risk": "low"},
    "devices=mobile + max_risk=low": {"devices": ["mobile"], "brand_safety_max_risk": "low"},
}


def classify_share(db: Database, urls: list[str], share: float) -> int:
    """Store a classification at a random level for ``share`` of ``urls``; how many."""
    rng = np.random.default_rng(16)
    chosen = [u for u in urls if rng.random() < share]
    levels = rng.choice(len(LEVELS), size=len(chosen), p=LEVEL_SHARES)
    rows = []
    for url, level in zip(chosen, levels, strict=True):
        normalized, url_hash = contextual_service.url_key(url)
        block = {"overall": LEVELS[level], "categories": {}}
        rows.append(
            {
                "url_hash": url_hash,
                "url": normalized,
                "domain": url.split("/")[2],
                "status": "ok",
                "classification": orjson.dumps({"brand_safety": block}).decode(),
                "attempts": 0,
                "created_at": dt.datetime.now(dt.UTC),
            }
        )
    with db.transaction() as session:
        session.execute(UrlClassification.__table__.insert(), rows)
    return len(rows)


def time_report(
    db: Database, settings: Settings, account_id: int, campaign_id: int, filters: dict[str, Any]
) -> tuple[float, int, dict[str, Any]]:
    data = CampaignReportCreate(
        campaign_id=campaign_id,
        start_date=reports_bench.START,
        end_date=reports_bench.START + dt.timedelta(days=reports_bench.DAYS - 1),
        dimensions=["domain"],
        filters=CampaignFilters.model_validate(filters),
    )
    start = time.perf_counter()
    with db.transaction() as session:
        report, _ = report_service.create_campaign_report(
            session=session, account_id=account_id, data=data
        )
        report_id = report.id
    Worker(db=db, kinds=[report_job(settings)]).run_once()
    elapsed = time.perf_counter() - start
    with db.transaction() as session:
        page = report_service.get_report(
            session=session, account_id=account_id, kind=CAMPAIGN, report_id=report_id,
            limit=10, offset=0,
        )  # fmt: skip
        if page.report.status != COMPLETE or page.summary is None:
            raise RuntimeError(f"report {report_id}: {page.report.status} {page.report.error}")
        return elapsed, page.report.row_count or 0, page.summary


def breakdown(db: Database, campaign_id: int) -> dict[str, float]:
    """Seconds of the filter's first step: list the URLs, hash them, look their levels up."""
    scope = aggregation_repository.Scope(
        campaign_id,
        reports_bench.START,
        reports_bench.START + dt.timedelta(days=reports_bench.DAYS - 1),
        {},
    )
    with db.transaction() as session:
        t0 = time.perf_counter()
        impressions = aggregation_repository.url_impressions(session, scope=scope, limit=10**9)
        t1 = time.perf_counter()
        hashes = [contextual_service.url_key(url)[1] for url, _ in impressions if url]
        t2 = time.perf_counter()
        brand_safety_repository.overall_risks(session, hashes)
        t3 = time.perf_counter()
    return {"list URLs": t1 - t0, "hash URLs": t2 - t1, "store lookup": t3 - t2}


def bench(backend: str, args: argparse.Namespace, workdir: Path) -> list[str]:
    url = reports_bench.fresh_database(backend, workdir)
    upgrade_database(url)
    db = Database(url)
    settings = Settings(data_dir=workdir / "data", database_url=url, worker_in_process=False)
    traffic = reports_bench.simulate(loads=args.loads, n_urls=50_000, n_domains=2_000)
    account_id, campaign_id = reports_bench.create_campaign(db)
    rows = reports_bench.load_rollups(db, traffic, campaign_id)
    reports_bench.load_report_grain(db)
    urls = sorted({u for u in traffic_keys(traffic, campaign_id) if u})
    stored = classify_share(db, urls, args.classified)
    reports_bench.analyze(
        db, ("pixel_rollups", *reports_bench.REPORT_GRAIN_TABLES, "url_classifications")
    )
    lines = [
        f"{backend}: {rows:,} rollup rows, {len(urls):,} URLs, {stored:,} classified",
    ]
    for label, filters in FILTERS.items():
        times: list[float] = []
        summary: dict[str, Any] = {}
        count = 0
        for _ in range(args.repeat):
            seconds, count, summary = time_report(db, settings, account_id, campaign_id, filters)
            times.append(seconds)
        excluded = summary.get("brand_safety_excluded_impressions", "-")
        unclassified = summary.get("brand_safety_unclassified_impressions", "-")
        lines.append(
            f"  {label:32} median {statistics.median(times):6.2f} s  rows {count:5}  "
            f"impressions {summary['impressions']:>9,}  excluded {excluded}  "
            f"unclassified {unclassified}"
        )
    parts = breakdown(db, campaign_id)
    lines.append("  first step: " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()))
    db.dispose()
    return lines


def traffic_keys(traffic: Any, campaign_id: int) -> list[str]:
    found: list[str] = []
    for chunk in reports_bench.rollup_rows(traffic, campaign_id):
        found += [row[reports_bench.COLUMNS.index("url")] for row in chunk]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--loads", type=int, default=1_000_000)
    parser.add_argument("--classified", type=float, default=0.9)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    print(f"load average before: {os.getloadavg()}")
    for backend in backends:
        with tempfile.TemporaryDirectory() as tmp:
            for line in bench(backend, args, Path(tmp)):
                print(line, flush=True)
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
