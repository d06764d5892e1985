"""The scale-out run's verdict: what it observed from outside, compared with the database."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.scaleout.scenario import Sizes
from sqlalchemy import Connection, Engine, text

from beacon.messaging.delivery.handover import CHUNKS_IN_FLIGHT

UNKNOWN_AFTER_CRASH = "unknown_outcome_after_crash"


@dataclass
class Check:
    name: str
    expected: str
    actual: str
    ok: bool


@dataclass
class Outcome:
    """What a run found: its checks, and facts worth recording (sizes, timings, counts)."""

    checks: list[Check] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)

    def check(self, name: str, expected: object, actual: object, ok: bool | None = None) -> bool:
        """Record a check; it passes when ``ok`` (by default: expected == actual)."""
        passed = expected == actual if ok is None else ok
        self.checks.append(Check(name, str(expected), str(actual), passed))
        return passed

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


@dataclass
class ReportJob:
    """A report the run requested, what it expects in it, and what GET showed once finished."""

    id: int
    start: dt.date
    end: dt.date
    dimensions: list[str]
    expected: int
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"report {self.id} ({self.start}..{self.end} by {','.join(self.dimensions)})"


@dataclass
class Observed:
    """What the run saw from outside: acknowledgements, API answers, sinks, kills."""

    sizes: Sizes
    deal_pushes: list[tuple[int, str]]  # (activation id, deal id) as the webhook received them
    mailbox: list[tuple[str, str]]  # (recipient, Message-ID) as the SMTP sink received them
    campaign_id: int = 0
    acknowledged: int = 0
    reports: list[ReportJob] = field(default_factory=list)
    killed_reports: set[int] = field(default_factory=set)  # held by the killed worker
    activation_ids: list[int] = field(default_factory=list)
    bad_signatures: int = 0
    execution_id: str = ""
    status_counts: dict[str, int] = field(default_factory=dict)  # /status of the campaign
    killed_batches: set[int] = field(default_factory=set)  # held by the killed worker


def check_database(engine: Engine, seen: Observed, outcome: Outcome) -> None:
    """Every total exact, every job finished once, nothing stuck."""
    with engine.connect() as conn:
        counted = conn.scalar(
            text("SELECT coalesce(sum(hits), 0) FROM pixel_rollups WHERE campaign_id = :c"),
            {"c": seen.campaign_id},
        )
        outcome.check("hits in the rollups", seen.acknowledged, int(counted))
        _check_reports(conn, seen, outcome)
        _check_activations(conn, seen, outcome)
        _check_messaging(conn, seen, outcome)
        _check_nothing_stuck(conn, outcome)


def _check_reports(conn: Connection, seen: Observed, outcome: Outcome) -> None:
    stored = {
        r.id: r
        for r in conn.execute(
            text(
                "SELECT r.id, r.status, r.attempts, r.summary, r.row_count,"
                " (SELECT count(*) FROM pixel_report_rows x WHERE x.report_id = r.id) AS rows,"
                " (SELECT coalesce(max(row_number) + 1, 0) FROM pixel_report_rows x"
                "  WHERE x.report_id = r.id) AS numbered"
                " FROM pixel_reports r WHERE r.campaign_id = :c"
            ),
            {"c": seen.campaign_id},
        )
    }
    outcome.check("reports stored", len(seen.reports), len(stored))
    for report in seen.reports:
        row = stored.get(report.id)
        if row is None:
            outcome.check(report.label, "stored", "missing", ok=False)
            continue
        summary = json.loads(row.summary or "{}")
        human = summary.get("impressions", 0)
        # campaign reports count people as impressions and the rest as invalid traffic
        invalid = summary.get("invalid_traffic") or {}
        total = human + invalid.get("bot", 0) + invalid.get("ai_agent", 0)
        in_rows = sum(int(r["impressions"]) for r in report.body.get("data") or [])
        listed = (report.body.get("pagination") or {}).get("total")
        attempts = 2 if report.id in seen.killed_reports else 1
        outcome.check(
            report.label,
            f"complete, total {report.expected}, rows sum to the summary, "
            f"{row.row_count} rows stored once and listed, attempts {attempts}",
            f"{row.status}, total {total}, rows sum {in_rows} (summary {human}), "
            f"{row.rows} stored numbered 0..{row.numbered - 1}, {listed} listed, "
            f"attempts {row.attempts}",
            ok=row.status == "complete"
            and total == report.expected
            and in_rows == human
            and row.rows == row.row_count == row.numbered == listed
            and row.attempts == attempts,
        )


def _check_activations(conn: Connection, seen: Observed, outcome: Outcome) -> None:
    stored = {
        r.id: r
        for r in conn.execute(
            text("SELECT id, status, deal_id, attempts FROM activation_activations")
        )
    }
    pushed: dict[int, set[str]] = {}
    for activation_id, deal_id in seen.deal_pushes:
        pushed.setdefault(activation_id, set()).add(deal_id)
    pushes = Counter(a for a, _ in seen.deal_pushes)
    for activation_id in seen.activation_ids:
        row = stored.get(activation_id)
        deals = pushed.get(activation_id, set())
        outcome.check(
            f"activation {activation_id} deal issued once",
            "complete, 1 deal id, the webhook's",
            f"{row.status if row else 'missing'}, {deals or 'no deal'} "
            f"({pushes[activation_id]} push(es), attempts {row.attempts if row else '-'})",
            ok=row is not None and row.status == "complete" and deals == {row.deal_id},
        )
    issued = [r.deal_id for r in stored.values() if r.deal_id]
    outcome.check("deal ids unique", len(issued), len(set(issued)))
    outcome.check("webhook signatures valid", 0, seen.bad_signatures)


def _check_messaging(conn: Connection, seen: Observed, outcome: Outcome) -> None:
    recipients = conn.execute(
        text(
            "SELECT r.stage, r.reason, r.provider_message_id, lower(c.email) AS email"
            " FROM messaging_recipients r JOIN messaging_contacts c ON c.id = r.contact_id"
            " WHERE r.execution_id = :e"
        ),
        {"e": seen.execution_id},
    ).all()
    status = conn.scalar(
        text("SELECT status FROM messaging_executions WHERE id = :e"), {"e": seen.execution_id}
    )
    stages = Counter(r.stage for r in recipients)
    reasons = Counter(r.reason for r in recipients if r.stage == "failed")
    mailbox = Counter(rcpt for rcpt, _ in seen.mailbox)
    delivered = set(seen.mailbox)
    sent = [r for r in recipients if r.stage == "sent"]
    missing = [r.email for r in sent if (r.email, r.provider_message_id) not in delivered]
    contacts = seen.sizes.contacts
    check = outcome.check
    check("execution status", "completed", status)
    check("recipient rows", contacts, len(recipients))
    check("recipient rows sent + failed", contacts, stages["sent"] + stages["failed"])
    check(
        "recipients failed, by reason",
        f"only {UNKNOWN_AFTER_CRASH}",
        dict(reasons),
        ok=set(reasons) <= {UNKNOWN_AFTER_CRASH},
    )
    # each batch a worker runs has at most CHUNKS_IN_FLIGHT chunks handed over and not yet
    # recorded (a takeover on another host cannot read the dead worker's hand-over journal)
    in_flight = seen.sizes.chunk_size * CHUNKS_IN_FLIGHT * max(1, len(seen.killed_batches))
    unknown = reasons[UNKNOWN_AFTER_CRASH]
    check(
        "rows in flight at the kill (unknown outcome)",
        f"1..{in_flight}",
        unknown,
        ok=1 <= unknown <= in_flight,
    )
    check("mailbox: duplicate recipients", 0, sum(1 for n in mailbox.values() if n > 1))
    check("mailbox: sent rows missing", 0, len(missing))
    check(
        "mailbox: messages to non-recipients", 0, len(set(mailbox) - {r.email for r in recipients})
    )
    check(
        "/status counts (sent, failed) match the rows",
        (stages["sent"], stages["failed"]),
        (seen.status_counts.get("sent"), seen.status_counts.get("failed")),
    )
    outcome.facts["messages: sent / failed / in mailbox"] = (
        f"{stages['sent']} / {stages['failed']} / {sum(mailbox.values())}"
    )
    outcome.facts["delivered although recorded unknown (policy fail)"] = str(
        sum(mailbox.values()) - stages["sent"]
    )
    for batch_id in sorted(seen.killed_batches):
        attempts = conn.scalar(
            text("SELECT attempts FROM messaging_batches WHERE id = :b"), {"b": batch_id}
        )
        check(f"killed batch {batch_id} taken over", 2, attempts)


def _check_nothing_stuck(conn: Connection, outcome: Outcome) -> None:
    # every job table carries a lease; executions say "running" where jobs say "processing"
    tables = conn.scalars(
        text(
            "SELECT table_name FROM information_schema.columns WHERE column_name ="
            " 'lease_owner' AND table_schema = 'public' ORDER BY table_name"
        )
    ).all()
    stuck = {}
    for table in tables:
        count = conn.scalar(
            text(f"SELECT count(*) FROM {table} WHERE status IN ('processing', 'running')")
        )
        if count:
            stuck[table] = count
    unfinished = conn.scalar(
        text("SELECT count(*) FROM messaging_recipients WHERE stage NOT IN ('sent', 'failed')")
    )
    outcome.check(f"rows processing/running in {len(tables)} job tables", {}, stuck)
    outcome.check("recipient rows not sent or failed", 0, unfinished)


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table (also readable in a terminal)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def summary(outcome: Outcome) -> str:
    """The facts and the checks, as two tables, and the verdict."""
    facts = table(["what", "value"], [[k, v] for k, v in outcome.facts.items()])
    checks = table(
        ["check", "expected", "actual", "ok"],
        [[c.name, c.expected, c.actual, "yes" if c.ok else "**NO**"] for c in outcome.checks],
    )
    verdict = "PASSED" if outcome.passed else f"FAILED ({len(outcome.failed)} checks)"
    return f"{facts}\n\n{checks}\n\nScale-out run {verdict}."
