"""Scale-out run: PostgreSQL-backed Beacon as 2 servers and 2 workers on loopback, with kill -9.

    python -m bench.scaleout.run [--database-url URL] [--hits 4000] [--threads 8]
                                 [--reports 6] [--activations 4] [--contacts 3000]
                                 [--keep] [--write-docs]

(from the repository root, with the project's virtualenv). DESTRUCTIVE for its database: the
public schema of ``--database-url`` (default BEACON_SCALEOUT_DATABASE_URL, else
postgresql+psycopg://postgres@127.0.0.1:5432/beacon_scaleout, created if missing) is dropped
and rebuilt by the migrations.

On loopback the run starts two ``beacon serve`` processes (each with its own data directory,
so its own pixel spool; ``BEACON_WORKER_IN_PROCESS=false``), two ``beacon worker`` processes
(``BEACON_JOB_LEASE_SECONDS=3``, so a dead worker's job is taken over within seconds), an
SMTP sink (aiosmtpd) and a deal webhook receiver. Then, through the public APIs of both
servers:

1. pixel hits (DSP macros, Referers, human, bot and AI-agent User-Agents) from several
   threads, alternating servers; every 200 is counted as acknowledged;
2. two segments over classified pages, campaign reports with distinct date ranges and
   dimensions, and seed-003 activations (each deal confirmed by the webhook);
3. a worker is killed with ``kill -9`` while it holds a report job, and replaced;
4. an email campaign to ``--contacts`` contacts; a worker is killed with ``kill -9`` while it
   is handing a chunk to the SMTP sink, and replaced;
5. every process gets SIGTERM (the servers flush their spools), then the database is checked:
   report totals equal the acknowledged hits, every job finished once, nothing is left
   ``processing``/``running``, the mailbox holds no duplicate and every ``sent`` row.

The kills land inside a job by construction, through two gates the run controls: while the
reports are queued it holds a SHARE lock on ``pixel_report_rows``, so a claimed report blocks
on its first write with its lease held and its transaction open; and the SMTP sink stops
answering DATA after a third of the audience, so the worker has a chunk handed over (stage
``injected``) whose outcome it never learns. The worker holding the job is killed inside the
gate, then the gate opens. With the default ``BEACON_MESSAGING_UNKNOWN_OUTCOME_POLICY=fail``
those rows end ``failed`` (``unknown_outcome_after_crash``), never sent twice.

Exit status: 0 when every check passed, 1 otherwise. Layout: ``scenario.py`` (sizes, traffic,
requests, settings), ``fleet.py`` (processes, sinks, gates), ``checks.py`` (the verdict).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from bench.scaleout import scenario
from bench.scaleout.checks import Observed, Outcome, ReportJob, check_database, summary
from bench.scaleout.fleet import (
    Api,
    DealWebhook,
    Fleet,
    ReportRowsGate,
    SmtpSink,
    beacon_cli,
    ensure_database,
    pixel_counters,
    reset_schema,
    wait_for,
)
from bench.scaleout.scenario import ACCOUNT, WEBHOOK_SECRET, Sizes
from sqlalchemy import Engine, create_engine, text

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Scale-out run"
DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/beacon_scaleout"


class ScaleOutRun:
    """One run: set up, drive the phases through both servers, stop everything, check."""

    def __init__(self, *, database_url: str, sizes: Sizes, work_dir: Path) -> None:
        self.database_url, self.sizes = database_url, sizes
        self.outcome = Outcome()
        self.engine: Engine = create_engine(database_url)
        self.sink = SmtpSink()
        self.webhook = DealWebhook(WEBHOOK_SECRET)
        self.seen = Observed(sizes, deal_pushes=self.webhook.pushes, mailbox=self.sink.received)
        self.env = scenario.environment(
            database_url=database_url,
            sizes=sizes,
            smtp_url=self.sink.url,
            webhook_url=self.webhook.url,
            work_dir=work_dir,
        )
        self.fleet = Fleet(work_dir, self.env)
        self.v1: list[Api] = []
        self.public: list[Api] = []
        self.today = dt.datetime.now(dt.UTC).date()
        self.segment_ids: list[int] = []

    def run(self) -> Outcome:
        """Every phase, then the checks; processes and sinks are stopped whatever happens."""
        self.outcome.facts["load average at start (1 min, machine)"] = f"{os.getloadavg()[0]:.1f}"
        try:
            self._timed("setup", self.setup)
            self._timed("pixel hits", self.send_hits)
            self._timed("segments", self.build_segments)
            self._timed("reports and activations", self.reports_and_activations)
            self._timed("messaging execution", self.messaging)
            self._timed("shutdown", self.shutdown)
            self.seen.bad_signatures = self.webhook.bad_signatures
            self._timed("checks", partial(check_database, self.engine, self.seen, self.outcome))
        except Exception as exc:
            stopped = f"stopped: {type(exc).__name__}: {exc}"
            self.outcome.check("the run completed", "every phase", stopped, ok=False)
        finally:
            self.fleet.kill_all()
            self._record_cpu()
            for api in (*self.v1, *self.public):
                api.close()
            self.sink.stop()
            self.webhook.stop()
            self.engine.dispose()
        return self.outcome

    def _timed(self, phase: str, step: Callable[[], None]) -> None:
        started = time.monotonic()
        print(f"-- {phase}", flush=True)
        step()
        self.outcome.facts[f"time: {phase}"] = f"{time.monotonic() - started:.1f} s"

    def _record_cpu(self) -> None:
        own, children = (
            resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        )
        self.outcome.facts["CPU time: this script / beacon processes"] = (
            f"{own.ru_utime + own.ru_stime:.1f} s / {children.ru_utime + children.ru_stime:.1f} s"
        )

    # --- the phases ----------------------------------------------------------------------------

    def setup(self) -> None:
        """A fresh schema, classified pages and an OAuth client; the processes; an API key."""
        from beacon.core.db import upgrade_database

        ensure_database(self.database_url)
        reset_schema(self.engine)
        upgrade_database(self.database_url)
        self.sink.start()
        self.webhook.start()
        self.fleet.start()  # the processes start while the account is prepared
        client = scenario.prepare_account(self.database_url)
        key = beacon_cli("keys", "create", "--account", ACCOUNT, env=self.env)
        self.fleet.wait_started()
        self.v1 = [Api(s.base_url, {"X-API-Key": key}) for s in self.fleet.servers]
        token = self.v1[0].call(
            "POST",
            "/public/v1/oauth/token",
            data={"grant_type": "client_credentials", **client},
            expect=(200,),
        )
        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        self.public = [Api(s.base_url, bearer) for s in self.fleet.servers]

    def send_hits(self) -> None:
        """Pixel hits over both servers from several threads; every 200 is acknowledged."""
        campaign = self.v1[0].call(
            "POST",
            "/v1/pixel/campaigns",
            json={"name": "Scale-out run", "use_case": "campaign_reporting"},
        )
        self.seen.campaign_id = campaign_id = int(campaign["id"])
        rng = random.Random(scenario.SEED)
        servers = [s.base_url for s in self.fleet.servers]
        plan = [
            scenario.pixel_hit(rng, base_url=servers[i % 2], campaign_id=campaign_id)
            for i in range(self.sizes.hits)
        ]
        threads = self.sizes.threads
        tallies = [Counter[str]() for _ in range(threads)]

        def shoot(lane: int) -> None:
            with httpx.Client(timeout=30.0) as http:
                for url, headers, kind in plan[lane::threads]:
                    try:
                        status = http.get(url, headers=headers).status_code
                    except httpx.HTTPError as exc:
                        tallies[lane][f"error {type(exc).__name__}"] += 1
                        continue
                    tallies[lane]["acknowledged" if status == 200 else f"HTTP {status}"] += 1
                    if status == 200:
                        tallies[lane][kind] += 1
                        tallies[lane][url.split("/px/")[0]] += 1

        started = time.monotonic()
        lanes = [threading.Thread(target=shoot, args=(lane,)) for lane in range(threads)]
        for lane in lanes:
            lane.start()
        for lane in lanes:
            lane.join()
        elapsed = time.monotonic() - started
        tally = sum(tallies, Counter[str]())
        self.seen.acknowledged = acknowledged = tally["acknowledged"]
        facts = self.outcome.facts
        facts["pixel hits sent / acknowledged"] = f"{self.sizes.hits} / {acknowledged}"
        facts["pixel hits per server"] = " / ".join(str(tally[s]) for s in servers)
        facts["pixel hits human / bot / ai_agent (by User-Agent sent)"] = (
            f"{tally['human']} / {tally['bot']} / {tally['ai_agent']}"
        )
        facts["pixel hit rate (both servers, loopback)"] = f"{acknowledged / elapsed:,.0f}/s"
        unanswered = {k: v for k, v in tally.items() if k.startswith(("HTTP", "error"))}
        if unanswered:
            facts["pixel hits not acknowledged"] = str(unanswered)
        self.outcome.check("pixel hits acknowledged", "> 0", acknowledged, ok=acknowledged > 0)
        flushed, rejected = wait_for(
            "the collectors to flush every acknowledged hit",
            self._all_flushed,
            timeout=120,
            every=0.5,
        )
        self.outcome.check("hits flushed (both /metrics)", acknowledged, int(flushed))
        self.outcome.check("hits rejected by the collectors", 0, int(rejected))

    def _all_flushed(self) -> tuple[float, float] | None:
        """(flushed, rejected) summed over both servers once every acknowledged hit is in."""
        counters = [pixel_counters(s.base_url) for s in self.fleet.servers]
        flushed, rejected = sum(c[0] for c in counters), sum(c[1] for c in counters)
        return (flushed, rejected) if flushed + rejected >= self.seen.acknowledged else None

    def build_segments(self) -> None:
        """Inventory and two segments, created through both servers and built by the workers."""
        self.v1[1].call("POST", "/v1/clsfy/inventory", json={"urls": scenario.pages()})
        for index, (name, rules) in enumerate(scenario.SEGMENTS):
            body = {"name": name, "rules": rules}
            created = self.v1[index % 2].call("POST", "/v1/clsfy/segments", json=body)
            self.segment_ids.append(int(created["id"]))
        for index, segment_id in enumerate(self.segment_ids):
            path = f"/v1/clsfy/segments/{segment_id}"
            segment = wait_for(
                f"segment {segment_id} to build",
                partial(self._finished, self.v1[index % 2], path),
                timeout=120,
                every=0.3,
            )
            self.outcome.check(
                f"segment {segment_id} built with members",
                "complete, > 0 URLs",
                f"{segment['status']}, {segment.get('url_count')} URLs",
                ok=segment["status"] == "complete" and bool(segment.get("url_count")),
            )

    @staticmethod
    def _finished(api: Api, path: str) -> dict[str, Any] | None:
        body: dict[str, Any] = api.call("GET", path)
        return body if body["status"] in ("complete", "failed") else None

    def reports_and_activations(self) -> None:
        """Queue reports and activations through both servers; kill -9 a worker holding a report."""
        gate = ReportRowsGate(self.engine)
        gate.close()
        try:
            for index in range(self.sizes.reports):
                self.seen.reports.append(self._create_report(index))
            for index in range(self.sizes.activations):
                body = scenario.activation_request(
                    index, segment_ids=self.segment_ids, today=self.today
                )
                created = self.v1[(index + 1) % 2].call("POST", "/v1/clsfy/activations", json=body)
                self.seen.activation_ids.append(int(created["id"]))
            report_id, owner = wait_for(
                "a worker to be blocked inside a report job",
                self._held_report,
                timeout=60,
                every=0.05,
            )
            victim = self.fleet.live_worker(owner)
            assert victim is not None
            victim.kill9()
            # with BEACON_WORKER_CONCURRENCY > 1 the victim may hold other reports as well
            self.seen.killed_reports = {report_id, *self._leased("pixel_reports", owner)}
            print(f"   kill -9 {victim.name} ({owner}) holding report {report_id}", flush=True)
        finally:
            gate.open()
        self.fleet.replace(victim)
        wait_for(
            "every report and activation to finish", self._all_finished, timeout=180, every=0.5
        )
        for index, report in enumerate(self.seen.reports):
            path = f"/v1/pixel/reports/campaign/{report.id}?limit=10000"
            report.body = self.v1[index % 2].call("GET", path)

    def _create_report(self, index: int) -> ReportJob:
        body = scenario.report_request(index, campaign_id=self.seen.campaign_id, today=self.today)
        created = self.v1[index % 2].call("POST", "/v1/pixel/reports/campaign", json=body)
        start, end = (
            dt.date.fromisoformat(body["start_date"]),
            dt.date.fromisoformat(body["end_date"]),
        )
        expected = self.seen.acknowledged if start <= self.today <= end else 0
        return ReportJob(int(created["id"]), start, end, body["dimensions"], expected)

    def _held_report(self) -> tuple[int, str] | None:
        """A report whose job is blocked at the gate, held by a live worker."""
        with self.engine.connect() as conn:
            waiting = conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database() AND query ILIKE '%pixel_report_rows%'"
                )
            )
            held = conn.execute(
                text(
                    "SELECT id, lease_owner FROM pixel_reports"
                    " WHERE status = 'processing' ORDER BY id"
                )
            ).all()
        if not waiting:
            return None
        for report_id, owner in held:
            if self.fleet.live_worker(owner) is not None:
                return int(report_id), str(owner)
        return None

    def _all_finished(self) -> bool:
        paths = [f"/v1/pixel/reports/campaign/{r.id}?limit=1" for r in self.seen.reports]
        paths += [f"/v1/clsfy/activations/{a}" for a in self.seen.activation_ids]
        return all(self._finished(self.v1[i % 2], p) for i, p in enumerate(paths))

    def messaging(self) -> None:
        """An email campaign to every contact; kill -9 a worker while a chunk is handed over."""
        api = self.public
        audience = scenario.contacts(self.sizes.contacts)
        for index, start in enumerate(range(0, len(audience), 1000)):
            body = {"contacts": audience[start : start + 1000]}
            api[index % 2].call("POST", "/public/v1/contacts", json=body, expect=(200, 201, 202))
        rule = {"field": "attributes.list", "op": "equals", "value": "scale-out"}
        segment = api[1].call(
            "POST", "/public/v1/segments", json={"name": "Scale-out list", "rules": {"all": [rule]}}
        )
        template = api[0].call("POST", "/public/v1/templates", json=scenario.TEMPLATE)
        campaign = api[1].call(
            "POST",
            "/public/v1/campaigns",
            json={
                "name": "Scale-out newsletter",
                "channel": "email",
                "audience": {"included": [segment["data"]["id"]], "excluded": []},
                "templateId": template["data"]["id"],
            },
        )
        campaign_id = str(campaign["data"]["campaignId"])
        api[0].call("POST", f"/public/v1/campaigns/{campaign_id}/preflight")
        api[1].call("POST", f"/public/v1/campaigns/{campaign_id}/publish")
        self.sink.hold_after(self.sizes.contacts // 3)
        try:
            api[0].call("POST", f"/public/v1/campaigns/{campaign_id}/send", expect=(200, 201, 202))
            batch_id, owner = wait_for(
                "a worker to hand a chunk to the held SMTP sink",
                self._held_batch,
                timeout=120,
                every=0.05,
            )
            victim = self.fleet.live_worker(owner)
            assert victim is not None
            victim.kill9()
            self.seen.killed_batches = {batch_id, *self._leased("messaging_batches", owner)}
            print(f"   kill -9 {victim.name} ({owner}) holding batch {batch_id}", flush=True)
        finally:
            self.sink.release()
        self.fleet.replace(victim)
        status = wait_for(
            "the execution to finish",
            partial(self._execution_done, campaign_id),
            timeout=300,
            every=0.5,
        )
        last = status["data"]["execution"]["lastExecution"]
        self.seen.execution_id = str(last["executionId"]).removeprefix("exec-")
        self.seen.status_counts = last["counts"]

    def _leased(self, table: str, owner: str) -> set[int]:
        """Ids of the jobs in ``table`` a (killed) worker still holds: its leases stay until
        they expire, so after the kill this set no longer changes."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(f"SELECT id FROM {table} WHERE status = 'processing' AND lease_owner = :o"),
                {"o": owner},
            ).all()
        return {int(row_id) for (row_id,) in rows}

    def _held_batch(self) -> tuple[int, str] | None:
        """A batch with rows handed over (``injected``) by a live worker, while the sink holds."""
        if not self.sink.holding:
            return None
        time.sleep(0.3)  # let every lane of every worker reach the held DATA
        with self.engine.connect() as conn:
            held = conn.execute(
                text(
                    "SELECT b.id, b.lease_owner FROM messaging_batches b"
                    " WHERE b.status = 'processing' AND EXISTS (SELECT 1 FROM messaging_recipients r"
                    "  WHERE r.execution_id = b.execution_id AND r.stage = 'injected'"
                    "  AND r.id BETWEEN b.first_recipient_id AND b.last_recipient_id)"
                    " ORDER BY b.id"
                )
            ).all()
        for batch_id, owner in held:
            if self.fleet.live_worker(owner) is not None:
                return int(batch_id), str(owner)
        return None

    def _execution_done(self, campaign_id: str) -> dict[str, Any] | None:
        status: dict[str, Any] = self.public[1].call(
            "GET", f"/public/v1/campaigns/{campaign_id}/status"
        )
        state = status["data"]["execution"]["state"]
        return status if state in ("completed", "failed", "cancelled") else None

    def shutdown(self) -> None:
        """SIGTERM every process: the servers flush their spools, the workers finish a job."""
        self.fleet.wait_started()
        codes = self.fleet.stop()
        # uvicorn re-raises the signal once its graceful shutdown is done: -15 is a clean exit
        self.outcome.check(
            "every process exits cleanly on SIGTERM",
            "0 (workers), 0 or -15 (servers)",
            codes,
            ok=all(code in (0, -signal.SIGTERM) for code in codes.values()),
        )


NOTES = """
Notes: the kills land inside a job by construction (a SHARE lock on `pixel_report_rows` holds
the report jobs at their first write; the SMTP sink stops answering DATA after a third of the
audience), so every run exercises a takeover: the killed report is re-run by another worker
(attempts 2) and its result stored once; the killed batch's rows that were handed over are
failed as `unknown_outcome_after_crash` (policy `fail`; some of them did reach the mailbox,
which is the price of never sending twice). A server exits with -15 on SIGTERM because uvicorn
re-raises the signal after its graceful shutdown (the spool is flushed first). Every hit
carries a cache buster (`cb`), which the collector does not keep as a macro, so hits of the
same page, device, country and macros merge into one rollup row. Timings are dominated by the
machine (2 CPUs shared with other work; see the load average): the run checks correctness, not
speed.

Found by this run and fixed: on PostgreSQL with SQLAlchemy 2.1, `core.db.rowcount` answered -1
for every INSERT (reports stored by INSERT .. SELECT showed `total: -1`; recipient snapshots
and classification queues miscounted); two workers building segments of one account raced on
the inventory-sync watermark (duplicate key, the build retried).
"""


def write_docs(outcome: Outcome, sizes: Sizes) -> None:
    """Replace (or add) this run's section of docs/benchmarks.md."""
    body = (
        f"{SECTION}\n\nMeasured by `python -m bench.scaleout.run --write-docs` on "
        f"{dt.date.today().isoformat()}: PostgreSQL, 2 `beacon serve` + 2 `beacon worker` "
        f"processes on loopback (lease 3 s), {sizes.hits:,} pixel hits from {sizes.threads} "
        f"threads, {sizes.reports} reports, {sizes.activations} activations, an email to "
        f"{sizes.contacts:,} contacts (batches of {sizes.batch_size}, chunks of "
        f"{sizes.chunk_size}); one worker killed with `kill -9` inside a report job and one "
        f"inside a hand-over to the SMTP sink (see the script's docstring for how).\n\n"
        f"{summary(outcome)}\n{NOTES}"
    )
    text_ = DOCS.read_text()
    start = text_.find(SECTION)
    if start == -1:
        DOCS.write_text(text_.rstrip("\n") + "\n\n" + body)
        return
    end = text_.find("\n## ", start + len(SECTION))
    rest = text_[end + 1 :] if end != -1 else ""
    DOCS.write_text(text_[:start] + body + ("\n" + rest if rest else ""))


def run_scale_out(*, database_url: str, sizes: Sizes, work_dir: Path) -> Outcome:
    """Run the whole scenario against ``database_url`` (its schema is reset); the outcome."""
    work_dir.mkdir(parents=True, exist_ok=True)
    return ScaleOutRun(database_url=database_url, sizes=sizes, work_dir=work_dir).run()


def main(argv: list[str] | None = None) -> int:
    """The command line; 0 when every check passed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BEACON_SCALEOUT_DATABASE_URL", DEFAULT_DATABASE),
        help="PostgreSQL URL; its public schema is DROPPED (database created if missing)",
    )
    defaults = Sizes()
    for name, what in (
        ("hits", "pixel hits"),
        ("threads", "threads sending the hits"),
        ("reports", "campaign reports"),
        ("activations", "activations"),
        ("contacts", "recipients of the email campaign"),
    ):
        default = getattr(defaults, name)
        parser.add_argument(f"--{name}", type=int, default=default, help=f"{what} ({default})")
    parser.add_argument("--keep", action="store_true", help="keep the logs and data directories")
    parser.add_argument("--write-docs", action="store_true", help="record in docs/benchmarks.md")
    args = parser.parse_args(argv)
    sizes = Sizes(
        hits=args.hits,
        threads=args.threads,
        reports=args.reports,
        activations=args.activations,
        contacts=args.contacts,
    )
    work_dir = Path(tempfile.mkdtemp(prefix="beacon-scaleout-"))
    outcome = run_scale_out(database_url=args.database_url, sizes=sizes, work_dir=work_dir)
    print(summary(outcome))
    if args.write_docs:
        write_docs(outcome, sizes)
    if args.keep or not outcome.passed:
        print(f"Logs and data directories: {work_dir}")
    else:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    sys.exit(main())
