"""The report job: aggregate the rollups in SQL, shape each result row, store the rows.

Row shape (docs/measure.md): the requested dimensions in a fixed order (unknown values are
null), the measures, ``macros`` when the hits carried any, ``misrepresented`` when some of
the row's impressions came from a domain other than the one its site macro declared, and
``classification`` (null when the store has none) when the request asked for it. Campaign
rows without classification are shaped by the database itself (`store_campaign_rows`);
`present_row` drops the optional keys it stores as null.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache, partial
from typing import Any

import orjson
from sqlalchemy import RowMapping
from sqlalchemy.orm import Session

from beacon.contextual import brand_safety
from beacon.contextual import service as contextual_service
from beacon.core.jobs import JobFailed
from beacon.core.registrable_domains import registrable_domain
from beacon.pixel import viewability
from beacon.pixel.agents import IVT_REASONS, classify_traffic
from beacon.pixel.reports import (
    aggregation_repository,
    brand_safety_repository,
    planner,
    repository,
    viewability_repository,
)
from beacon.pixel.reports.models import CAMPAIGN, PixelReport

log = logging.getLogger("beacon.pixel.reports")

BRAND_SAFETY_FILTER = "brand_safety_max_risk"
DIMENSION_ORDER = ("date", "domain", "url", "device", "geo", "traffic_type", "agent", "ivt_reason")

Row = dict[str, Any]


def run_report(session: Session, report: PixelReport, *, max_rows: int, max_urls: int) -> None:
    """Compute ``report`` into its rows and summary; JobFailed when it would exceed ``max_rows``
    (or, filtered by brand safety, cover more than ``max_urls`` page URLs)."""
    dimensions = [d for d in DIMENSION_ORDER if d in orjson.loads(report.dimensions or "[]")]
    filters: dict[str, Any] = orjson.loads(report.filters)
    plan = planner.plan_campaign(dimensions, filters)
    max_risk: str | None = filters.pop(BRAND_SAFETY_FILTER, None)
    scope = aggregation_repository.Scope(
        report.campaign_id, report.start_date, report.end_date, filters
    )
    if report.attempts > 1:
        # Rows of an earlier attempt; skipped otherwise because on SQLite any DELETE takes
        # the database's write lock, which would then be held for the whole aggregation.
        repository.delete_rows(session, report_id=report.id)
    aggregation_repository.tune_for_aggregation(session)
    excluded: Row = {}
    if max_risk is not None:
        scope, excluded = _brand_safe_scope(session, scope, max_risk, max_urls=max_urls)
    shape: Callable[[RowMapping, Sequence[str]], Row]
    aggregate: Callable[..., Iterator[Sequence[RowMapping]]]
    if report.kind == CAMPAIGN:
        summary = _campaign_summary(
            aggregation_repository.campaign_summary(session, scope=scope, plan=plan),
            aggregation_repository.invalid_by_reason(session, scope=scope),
        )
        summary.update(_viewability(*viewability_repository.totals(session, scope=scope)))
        summary.update(excluded)
        aggregate, shape = partial(aggregation_repository.campaign_rows, plan=plan), _campaign_row
    else:
        summary = _publisher_summary(
            aggregation_repository.publisher_summary(session, scope=scope),
            aggregation_repository.top_agents(session, scope=scope),
        )
        aggregate, shape = aggregation_repository.publisher_rows, _publisher_row
    if report.kind == CAMPAIGN and dimensions and not report.include_classification:
        # The common case needs no Python per row: the database aggregates, shapes and
        # stores the rows in one statement. Classification lookups need the loop below.
        count = aggregation_repository.store_campaign_rows(
            session, report_id=report.id, scope=scope, dimensions=dimensions, plan=plan
        )
        if count > max_rows:
            raise JobFailed(_too_many(max_rows))
        report.summary = orjson.dumps(summary).decode()
        report.row_count = count
        return
    chunks = aggregate(session, scope=scope, dimensions=dimensions) if dimensions else iter(())
    count = 0
    for chunk in chunks:
        if count + len(chunk) > max_rows:
            raise JobFailed(_too_many(max_rows))
        rows = [shape(r, dimensions) for r in chunk]
        if report.include_classification:
            _classify(session, rows, dimensions)
        payloads = [orjson.dumps(row).decode() for row in rows]
        repository.insert_rows(session, report_id=report.id, first=count, payloads=payloads)
        count += len(rows)
    report.summary = orjson.dumps(summary).decode()
    report.row_count = count


def _brand_safe_scope(
    session: Session, scope: aggregation_repository.Scope, max_risk: str, *, max_urls: int
) -> tuple[aggregation_repository.Scope, Row]:
    """``scope`` narrowed to its page URLs whose stored overall brand-safety risk is at most
    ``max_risk``, and the summary fields counting the human impressions left out.

    URLs without a brand-safety classification (not classified yet, failed, classified by an
    engine older than brand safety, or no URL at all) are left out: a brand-safety filter
    that let unknown pages through would promise what it cannot know (as segment rules do).
    The store is keyed by the hash of the normalised URL, which only Python computes, so the
    allowed URLs are found here once and every query of the report is limited to them.
    """
    # anyone can add page URLs to a campaign (the pixel is public): the set held here and
    # sent with every query is bounded
    impressions = aggregation_repository.url_impressions(session, scope=scope, limit=max_urls + 1)
    if len(impressions) > max_urls:
        raise JobFailed(
            f"The brand-safety filter covers more than {max_urls} page URLs; "
            "narrow the date range or the domains"
        )
    # A URL's own store key first, then the older keys a row stored before may carry (a
    # host's root dot), as every read of the store by URL goes.
    keys = {url: contextual_service.lookup_hashes(url) for url, _ in impressions if url}
    levels = brand_safety_repository.overall_risks(
        session, [key for url_keys in keys.values() for key in url_keys]
    )
    allowed: list[str] = []
    excluded = unclassified = 0
    for url, count in impressions:
        found = [levels[key] for key in keys[url] if key in levels] if url else []
        level = found[0] if found else None
        if brand_safety.level_within(level, max_risk):
            allowed.append(url)
            continue
        excluded += count
        if level not in brand_safety.RANK:
            unclassified += count
    counts = {
        "brand_safety_excluded_impressions": excluded,
        "brand_safety_unclassified_impressions": unclassified,
    }
    return dataclasses.replace(scope, urls=allowed), counts


def _too_many(max_rows: int) -> str:
    return (
        f"The report has more than {max_rows} rows; "
        "narrow the date range, the filters or the dimensions"
    )


# Keys a stored row may carry as null when they do not apply (rows shaped by the database).
_OPTIONAL_KEYS = ("macros", "misrepresented", "misrepresented_impressions")


def present_row(row: Row) -> Row:
    """A stored row as the API shows it: optional keys that do not apply are left out."""
    for key in _OPTIONAL_KEYS:
        if key in row and row[key] is None:
            del row[key]
    if "measurable_impressions" in row:
        row.update(_viewability(row["measurable_impressions"], row["viewable_impressions"]))
    return row


def _viewability(measurable: int, viewable: int) -> Row:
    return {
        "measurable_impressions": measurable,
        "viewable_impressions": viewable,
        "viewability_rate": viewability.rate(viewable=viewable, measurable=measurable),
    }


def _dimension_values(record: RowMapping, dimensions: Sequence[str]) -> Row:
    row: Row = {}
    for dimension in dimensions:
        value = record[dimension]
        if isinstance(value, dt.date):
            value = value.isoformat()
        row[dimension] = value or None
    return row


def _campaign_row(record: RowMapping, dimensions: Sequence[str]) -> Row:
    row = _dimension_values(record, dimensions)
    row["impressions"] = int(record["impressions"])
    if record["macros"]:
        row["macros"] = orjson.loads(record["macros"])
    if record["misrepresented"]:
        row["misrepresented"] = True
        row["misrepresented_impressions"] = int(record["misrepresented"])
    for measure in viewability_repository.MEASURES:
        row[measure] = int(record[measure])
    return row


def _publisher_row(record: RowMapping, dimensions: Sequence[str]) -> Row:
    row = _dimension_values(record, dimensions)
    if row.get("agent"):
        operator, function = agent_details(row["agent"])
        row["operator"], row["function"] = operator, function
    for measure in ("loads", "human", "bot", "ai_agent"):
        row[measure] = int(record[measure])
    if record["macros"]:
        row["macros"] = orjson.loads(record["macros"])
    return row


def _campaign_summary(totals: Mapping[str, Any], by_reason: Mapping[str, int]) -> Row:
    return {
        "impressions": int(totals["impressions"]),
        "unique_urls": int(totals["unique_urls"]),
        "unique_domains": int(totals["unique_domains"]),
        "invalid_traffic": {
            "bot": int(totals["bot"]),
            "ai_agent": int(totals["ai_agent"]),
            "by_reason": {reason: int(by_reason.get(reason, 0)) for reason in IVT_REASONS},
        },
        "misrepresented_impressions": int(totals["misrepresented_impressions"]),
    }


def _publisher_summary(totals: RowMapping, agents: Iterable[RowMapping]) -> Row:
    top = []
    for agent in agents:
        operator, function = agent_details(agent["name"])
        top.append(
            {
                "name": agent["name"],
                "type": agent["type"],
                "operator": operator,
                "function": function,
                "loads": int(agent["loads"]),
            }
        )
    return {
        "loads": int(totals["loads"]),
        "human": int(totals["human"]),
        "bot": int(totals["bot"]),
        "ai_agent": int(totals["ai_agent"]),
        "unique_agents": int(totals["unique_agents"]),
        "top_agents": top,
    }


@lru_cache(maxsize=4096)
def agent_details(name: str) -> tuple[str | None, str | None]:
    """(operator, function) of a named AI agent from the vendored robots.json; None for others."""
    # The agent list is matched against User-Agents, and a few tokens only match with a
    # version ("Code/1.0"), so the name is presented the way a crawler would send it.
    info = classify_traffic(f"{name}/1.0")
    if info.type != "ai_agent" or (info.agent or "").lower() != name.lower():
        return None, None
    return info.operator, info.function


def _classify(session: Session, rows: list[Row], dimensions: Sequence[str]) -> None:
    """Attach stored classifications; a store failure leaves them null, never fails the report."""
    by_url = "url" in dimensions
    if not by_url and "domain" not in dimensions:
        return
    key = "url" if by_url else "domain"
    wanted = {row[key] for row in rows if row[key]}
    found: dict[str, Any] = {}
    try:
        with session.begin_nested():
            if by_url:
                found = contextual_service.classifications_for_urls(session, wanted)
                _request_missing(session, wanted - found.keys())
            else:
                found = contextual_service.classifications_for_domains(session, wanted)
    except Exception:
        log.exception("classification store unavailable; report rows carry null")
    for row in rows:
        row["classification"] = found.get(row[key]) if row[key] else None


def _request_missing(session: Session, urls: Iterable[str]) -> None:
    # The seed promises that asking for classification gets served URLs analysed; queue the
    # unknown ones so a later report has them.
    pairs = [(url, registrable_domain(url) or "") for url in urls]
    if pairs:
        contextual_service.request_classification(session, pairs)
