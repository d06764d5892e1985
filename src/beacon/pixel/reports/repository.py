"""Every query of reports: the job rows, the aggregations over pixel rollups, the result rows.

Aggregation is one GROUP BY in the database per report (plus one for the summary); Python only
sees the aggregated rows, streamed in partitions, never the rollups themselves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    RowMapping,
    Select,
    String,
    Table,
    Text,
    and_,
    case,
    cast,
    delete,
    distinct,
    func,
    insert,
    literal,
    null,
    select,
    text,
    true,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from beacon.core.db import is_postgres, rowcount
from beacon.core.jobs import PENDING, PROCESSING
from beacon.pixel.models import PixelRollup as R
from beacon.pixel.reports.models import PixelReport, PixelReportRow

STREAM_PARTITION = 5000
AGGREGATION_WORK_MEM = "256MB"
TOP_AGENTS = 10
_REPORT_ROWS: Table = PixelReportRow.__table__  # type: ignore[assignment]

_DIMENSION_COLUMNS: dict[str, Any] = {
    "date": R.date,
    "domain": R.domain,
    "url": R.url,
    "device": R.device,
    "geo": R.geo,
    "traffic_type": R.traffic_type,
    "agent": R.agent,
}
_TRAFFIC_TYPES = ("human", "bot", "ai_agent")
_FILTER_COLUMNS: dict[str, Any] = {
    "domains": R.domain,
    "devices": R.device,
    "geo": R.geo,
    "traffic_types": R.traffic_type,
}


# --- Report (job) rows -----------------------------------------------------------------------


def get_report(
    session: Session, *, account_id: int, kind: str, report_id: int
) -> PixelReport | None:
    """The account's report of this kind, or None (another account's id is None too)."""
    return session.scalar(
        select(PixelReport).where(
            PixelReport.id == report_id,
            PixelReport.account_id == account_id,
            PixelReport.kind == kind,
        )
    )


def find_active(session: Session, *, account_id: int, request_key: str) -> PixelReport | None:
    """The identical request still pending or processing, if any."""
    return session.scalar(
        select(PixelReport).where(
            PixelReport.account_id == account_id,
            PixelReport.request_key == request_key,
            PixelReport.status.in_((PENDING, PROCESSING)),
        )
    )


def add_report_unless_active(session: Session, report: PixelReport) -> tuple[PixelReport, bool]:
    """Insert ``report``; if an identical one is in flight, return that one instead.

    The partial unique index settles races between concurrent identical requests; the
    savepoint keeps the request's transaction usable after losing one.
    """
    existing = find_active(session, account_id=report.account_id, request_key=report.request_key)
    if existing is not None:
        return existing, False
    try:
        with session.begin_nested():
            session.add(report)
    except IntegrityError:
        winner = find_active(session, account_id=report.account_id, request_key=report.request_key)
        if winner is None:
            raise
        return winner, False
    return report, True


# --- Result rows -----------------------------------------------------------------------------


def delete_rows(session: Session, *, report_id: int) -> None:
    """Drop any rows of an earlier attempt."""
    session.execute(delete(PixelReportRow).where(PixelReportRow.report_id == report_id))


def insert_rows(session: Session, *, report_id: int, first: int, payloads: Sequence[str]) -> None:
    """Store ``payloads`` as rows ``first``, ``first + 1``, ... of the report."""
    if payloads:
        session.execute(
            insert(PixelReportRow),
            [
                {"report_id": report_id, "row_number": first + n, "payload": payload}
                for n, payload in enumerate(payloads)
            ],
        )


def page_rows(session: Session, *, report_id: int, offset: int, limit: int) -> list[str]:
    """Payloads of rows ``offset`` .. ``offset + limit - 1``: a primary-key range, not a scan."""
    return list(
        session.scalars(
            select(PixelReportRow.payload)
            .where(
                PixelReportRow.report_id == report_id,
                PixelReportRow.row_number >= offset,
                PixelReportRow.row_number < offset + limit,
            )
            .order_by(PixelReportRow.row_number)
        )
    )


# --- Aggregations over rollups ---------------------------------------------------------------


def _hits_where(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, R.hits), else_=0)), 0)


def _human() -> ColumnElement[bool]:
    return R.traffic_type == "human"


@dataclass(frozen=True)
class Scope:
    """The rollups a report covers: one campaign, a date range, the request's filters."""

    campaign_id: int
    start: dt.date
    end: dt.date
    filters: Mapping[str, Sequence[str]]


def _where(scope: Scope) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        R.campaign_id == scope.campaign_id,
        R.date >= scope.start,
        R.date <= scope.end,
    ]
    for key, values in scope.filters.items():
        conditions.append(_FILTER_COLUMNS[key].in_(list(values)))
    return conditions


def _grouped(
    dimensions: Sequence[str], measures: list[Any], order_first: Any
) -> tuple[Select[Any], list[Any]]:
    columns = [_DIMENSION_COLUMNS[d].label(d) for d in dimensions]
    group_by = [*columns, R.macros]
    order = [columns[dimensions.index("date")]] if "date" in dimensions else []
    order += [order_first.desc(), *(c for c in columns if c.name != "date"), R.macros]
    statement = select(*columns, R.macros.label("macros"), *measures).group_by(*group_by)
    return statement, order


def campaign_rows(
    session: Session,
    *,
    scope: Scope,
    dimensions: Sequence[str],
) -> Iterator[Sequence[RowMapping]]:
    """Human impressions per dimension combination and macro set, in report order, in chunks."""
    statement, order = _campaign_grouped(scope, dimensions)
    return _stream(session, statement.order_by(*order))


def _campaign_grouped(scope: Scope, dimensions: Sequence[str]) -> tuple[Select[Any], list[Any]]:
    # Campaign rows count human traffic only, so other rollups are not even aggregated.
    impressions = func.sum(R.hits).label("impressions")
    misrepresented = _hits_where(R.misrepresented.is_(True)).label("misrepresented")
    statement, order = _grouped(dimensions, [impressions, misrepresented], impressions)
    statement = statement.where(*_where(scope), _human()).having(impressions > 0)
    return statement, order


def store_campaign_rows(
    session: Session,
    *,
    report_id: int,
    scope: Scope,
    dimensions: Sequence[str],
) -> int:
    """Aggregate and store the report's rows in one INSERT .. SELECT; returns how many.

    Each payload is built by the database as a JSON object of the dimensions (``''`` as
    null), ``impressions``, and ``macros`` / ``misrepresented`` /
    ``misrepresented_impressions`` (null when they do not apply; `build.present_row` drops
    those on the way out). Numbering the rows with ``row_number()`` in report order keeps
    every row out of Python, which dominates the cost of large reports otherwise.
    """
    g = _campaign_grouped(scope, dimensions)[0].subquery("g")
    order: list[Any] = [g.c.date] if "date" in dimensions else []
    order += [g.c.impressions.desc(), *(g.c[d] for d in dimensions if d != "date"), g.c.macros]
    number = func.row_number().over(order_by=order) - 1
    postgres = is_postgres(session)
    fields: list[Any] = []
    for dimension in dimensions:
        value = g.c[dimension] if dimension == "date" else func.nullif(g.c[dimension], "")
        fields += [_key(dimension), value]
    mis = g.c.misrepresented > 0
    macros_json = cast(g.c.macros, JSON) if postgres else func.json(g.c.macros)
    fields += [
        _key("impressions"),
        g.c.impressions,
        _key("macros"),
        case((g.c.macros != "", macros_json), else_=null()),
        _key("misrepresented"),
        case((mis, true() if postgres else func.json("true")), else_=null()),
        _key("misrepresented_impressions"),
        case((mis, g.c.misrepresented), else_=null()),
    ]
    build = func.json_build_object if postgres else func.json_object
    payload = cast(build(*fields), Text)
    rows = select(literal(report_id).label("report_id"), number.label("n"), payload.label("p"))
    # The Core table, not the ORM entity: the ORM's bulk INSERT reports no rowcount.
    statement = insert(_REPORT_ROWS).from_select(["report_id", "row_number", "payload"], rows)
    return rowcount(session, statement)


def _key(name: str) -> Any:
    # A typed literal: PostgreSQL cannot infer a bound parameter's type in json_build_object.
    return literal(name, String)


def publisher_rows(
    session: Session,
    *,
    scope: Scope,
    dimensions: Sequence[str],
) -> Iterator[Sequence[RowMapping]]:
    """Loads by traffic type per dimension combination and macro set, in report order."""
    loads = func.sum(R.hits).label("loads")
    measures = [loads, *(_hits_where(R.traffic_type == t).label(t) for t in _TRAFFIC_TYPES)]
    statement, order = _grouped(dimensions, measures, loads)
    statement = statement.where(*_where(scope)).order_by(*order)
    return _stream(session, statement)


def _stream(session: Session, statement: Select[Any]) -> Iterator[Sequence[RowMapping]]:
    result = session.execute(statement, execution_options={"yield_per": STREAM_PARTITION})
    yield from result.mappings().partitions()


def campaign_summary(
    session: Session,
    *,
    scope: Scope,
) -> RowMapping:
    """Totals over the whole filtered range; unique URLs and domains are of human traffic."""
    human = _human()
    totals = [
        _hits_where(human).label("impressions"),
        _hits_where(R.traffic_type == "bot").label("bot"),
        _hits_where(R.traffic_type == "ai_agent").label("ai_agent"),
        _hits_where(and_(human, R.misrepresented)).label("misrepresented_impressions"),
    ]
    if not is_postgres(session):
        statement = select(
            *totals,
            func.count(distinct(case((and_(human, R.url != ""), R.url)))).label("unique_urls"),
            func.count(distinct(case((and_(human, R.domain != ""), R.domain)))).label(
                "unique_domains"
            ),
        ).where(*_where(scope))
        return session.execute(statement).mappings().one()
    # PostgreSQL sorts for count(DISTINCT); one hashed GROUP BY per URL and domain first,
    # then totals over those (far fewer) groups, is several times faster.
    per_url = (
        select(R.url, R.domain, *totals)
        .where(*_where(scope))
        .group_by(R.url, R.domain)
        .subquery("per_url")
    )
    seen = per_url.c.impressions > 0
    statement = select(
        *(func.coalesce(func.sum(per_url.c[t.name]), 0).label(t.name) for t in totals),
        func.count(distinct(case((and_(seen, per_url.c.url != ""), per_url.c.url)))).label(
            "unique_urls"
        ),
        func.count(distinct(case((and_(seen, per_url.c.domain != ""), per_url.c.domain)))).label(
            "unique_domains"
        ),
    )
    return session.execute(statement).mappings().one()


def tune_for_aggregation(session: Session) -> None:
    """Give this transaction's GROUP BYs room to hash in memory (PostgreSQL only).

    The default ``work_mem`` (4 MB) makes a report over millions of rollups spill its hash
    tables to disk; the setting is local to the transaction (the report job).
    """
    if is_postgres(session):
        session.execute(text(f"SET LOCAL work_mem = '{AGGREGATION_WORK_MEM}'"))


def publisher_summary(
    session: Session,
    *,
    scope: Scope,
) -> RowMapping:
    """Loads by traffic type and the number of distinct named bots and AI agents."""
    statement = select(
        func.coalesce(func.sum(R.hits), 0).label("loads"),
        *(_hits_where(R.traffic_type == t).label(t) for t in _TRAFFIC_TYPES),
        func.count(distinct(case((R.agent != "", R.agent)))).label("unique_agents"),
    ).where(*_where(scope))
    return session.execute(statement).mappings().one()


def top_agents(
    session: Session,
    *,
    scope: Scope,
) -> list[RowMapping]:
    """The named bots and AI agents with the most loads."""
    loads = func.sum(R.hits).label("loads")
    statement = (
        select(R.agent.label("name"), func.max(R.traffic_type).label("type"), loads)
        .where(
            *_where(scope),
            R.agent != "",
            R.traffic_type != literal("human"),
        )
        .group_by(R.agent)
        .order_by(loads.desc(), R.agent)
        .limit(TOP_AGENTS)
    )
    return list(session.execute(statement).mappings())
