"""SQL of the folding job: closed days of the full grain summed into the stats summaries.

A few days of one month are folded in one transaction: their domain day rows (per domain,
device, country, traffic type and agent) are summed from the full grain, the agent day rows
from them, both at four device / country levels; their agent, domain, site and URL sums are
*added* to the month rows and to the campaign's ``whole`` rows (``INSERT .. SELECT .. ON
CONFLICT DO UPDATE SET n = n + excluded.n``), and each day is marked with the loads it had.
Undoing a month (when a folded day changed) subtracts its month rows from the whole rows and
deletes them, its day rows and marks at once; its days are then folded again. So the whole
rows always equal the sum of the month rows. Each statement is a GROUP BY in the database over
those days of the full grain (or of their day rows), so no transaction holds a write lock long.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    ColumnElement,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session, aliased

from beacon.core.db import UTCDateTime, hold_rows, is_postgres, upsert_insert
from beacon.core.jobs import COMPLETE, FAILED, PENDING
from beacon.core.timefmt import utcnow
from beacon.pixel.models import PixelCampaign
from beacon.pixel.models import PixelRollup as R
from beacon.pixel.models import PixelSiteDay as SD
from beacon.pixel.stats.models import ALL, DAY, MONTH, WHOLE, WHOLE_PERIOD
from beacon.pixel.stats.models import PixelStatsAgent as A
from beacon.pixel.stats.models import PixelStatsDomainAgent as DA
from beacon.pixel.stats.models import PixelStatsFold as J
from beacon.pixel.stats.models import PixelStatsFolded as F
from beacon.pixel.stats.models import PixelStatsSite as S
from beacon.pixel.stats.models import PixelStatsUrl as U

TRAFFIC_TYPES = ("human", "bot", "ai_agent")
_SEP = "\x1f"
# (device, geo) of each level: True keeps the real value, False sums it ('*').
_LEVELS = ((True, True), (True, False), (False, True), (False, False))
_URL_LEVELS = _LEVELS[1:]
_KEYS: dict[Any, tuple[str, ...]] = {
    A: ("traffic_type", "agent"),
    DA: ("domain", "traffic_type", "agent"),
    S: ("key_hash",),
    U: ("key_hash",),
}
_WORK_MEM = "128MB"  # URLs: no device × country level (that filter reads the full grain)


def refresh_statistics(session: Session) -> None:
    """Fresh planner statistics for the summaries a fold writes into (PostgreSQL). Right
    after a first fold of a large campaign the planner would otherwise guess (autovacuum gets
    to the tables later, or never where it is off) and the stats requests take seconds: 0.7 to
    12.6 s against 49-158 ms at 10M loads (docs/benchmarks.md, the stats sections). ANALYZE
    reads a sample and blocks neither reads nor writes. SQLite's planner keeps no statistics
    unless asked, and the summaries' queries are planned for that."""
    if not is_postgres(session):
        return
    for model in (A, DA, S, U):
        session.execute(text(f"ANALYZE {model.__tablename__}"))


def month_of(day: dt.date) -> dt.date:
    """The first day of ``day``'s month (a month row's period)."""
    return day.replace(day=1)


def _month_end(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


def lock_campaign(session: Session, campaign_id: int) -> None:
    """Serialize folds of one campaign. On PostgreSQL ``FOR NO KEY UPDATE`` of the campaign
    row, which neither waits for nor blocks the flusher's foreign-key checks; on SQLite a
    no-op write, so the transaction holds the single writer's lock before it reads."""
    if is_postgres(session):
        # A week of a large campaign's URLs grouped in memory, not in sorted runs on disk.
        session.execute(text(f"SET LOCAL work_mem = '{_WORK_MEM}'"))
    hold_rows(session, PixelCampaign, PixelCampaign.id == campaign_id)


def site_day_loads(
    session: Session, *, campaign_id: int, before: dt.date, month: dt.date | None = None
) -> dict[dt.date, int]:
    """Loads per day before ``before`` (of ``month`` only, if given), from site-days."""
    conditions = [SD.campaign_id == campaign_id, SD.date < before]
    if month is not None:
        conditions += [SD.date >= month, SD.date <= _month_end(month)]
    statement = (
        select(SD.date, func.sum(SD.human + SD.bot + SD.ai_agent))
        .where(*conditions)
        .group_by(SD.date)
    )
    return {day: int(n) for day, n in session.execute(statement) if n}


def folded(
    session: Session, *, campaign_id: int, start: dt.date | None = None, end: dt.date | None = None
) -> dict[dt.date, int]:
    """The folded days (of ``start``..``end``) and the loads each had when folded."""
    conditions = [F.campaign_id == campaign_id]
    if start is not None:
        conditions.append(F.date >= start)
    if end is not None:
        conditions.append(F.date <= end)
    return {day: int(n) for day, n in session.execute(select(F.date, F.loads).where(*conditions))}


def unfold_month(session: Session, *, campaign_id: int, month: dt.date) -> None:
    """Delete ``month``'s summary rows and marks (subtracting them from the whole rows first):
    its days read from the daily rollups again."""
    last = _month_end(month)
    for model, measures in ((A, ("hits",)), (DA, ("hits",)), (S, TRAFFIC_TYPES), (U, ("human",))):
        _subtract_from_whole(session, model, measures, campaign_id=campaign_id, month=month)
        session.execute(
            delete(model).where(
                model.campaign_id == campaign_id, model.span == MONTH, model.period == month
            )
        )
    for model in (A, DA):
        session.execute(
            delete(model).where(
                model.campaign_id == campaign_id,
                model.span == DAY,
                model.period >= month,
                model.period <= last,
            )
        )
    session.execute(delete(F).where(F.campaign_id == campaign_id, F.date >= month, F.date <= last))


def _subtract_from_whole(
    session: Session, model: Any, measures: tuple[str, ...], *, campaign_id: int, month: dt.date
) -> None:
    """Whole rows minus ``month``'s rows of the same key; rows left at zero are deleted, so the
    whole rows are what folding the remaining months would have written."""
    m = aliased(model)
    keys = ("device", "geo", *_KEYS[model])
    session.execute(
        update(model)
        .where(
            model.campaign_id == campaign_id,
            model.span == WHOLE,
            model.period == WHOLE_PERIOD,
            m.campaign_id == campaign_id,
            m.span == MONTH,
            m.period == month,
            *(getattr(model, k) == getattr(m, k) for k in keys),
        )
        .values({name: getattr(model, name) - getattr(m, name) for name in measures})
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(model).where(
            model.campaign_id == campaign_id,
            model.span == WHOLE,
            *(getattr(model, name) == 0 for name in measures),
        )
    )


def _level(column: Any, keep: bool) -> Any:
    return column if keep else literal(ALL)


def _grouped(keep: tuple[bool, bool], source: Any) -> list[Any]:
    return [c for c, k in zip((source.device, source.geo), keep, strict=True) if k]


def fold_days(session: Session, *, campaign_id: int, days: list[dt.date]) -> dict[dt.date, int]:
    """Fold ``days`` (of one month, none folded yet) into the summaries; the loads of each.

    Several days at once write each month key once rather than once a day."""
    month = month_of(days[0])
    assert all(month_of(day) == month for day in days)
    _agent_days(session, campaign_id, days)
    statement = (
        select(A.period, func.sum(A.hits))
        .where(
            A.campaign_id == campaign_id,
            A.span == DAY,
            A.period.in_(days),
            A.device == ALL,
            A.geo == ALL,
        )
        .group_by(A.period)
    )
    loads = {day: 0 for day in days} | {d: int(n) for d, n in session.execute(statement)}
    _agent_month(session, campaign_id, days, month)
    for span, period in ((MONTH, month), (WHOLE, WHOLE_PERIOD)):
        for keep in _LEVELS:
            _site_month(session, campaign_id, days, span, period, keep)
        for keep in _URL_LEVELS:
            _url_month(session, campaign_id, days, span, period, keep)
    session.add_all(F(campaign_id=campaign_id, date=day, loads=n) for day, n in loads.items())
    session.flush()
    return loads


def _days_of(campaign_id: int, days: list[dt.date]) -> list[ColumnElement[bool]]:
    return [R.campaign_id == campaign_id, R.date.in_(days)]


def _agent_days(session: Session, campaign_id: int, days: list[dt.date]) -> None:
    """The days' domain rows at the real device and country from the full grain, the campaign's
    agent rows from them (summed over domains), then the coarser levels of both."""
    names = ["device", "geo", "traffic_type", "agent"]
    keys = [R.domain, *(getattr(R, name) for name in names)]
    finest = (
        select(R.campaign_id, literal(DAY), R.date, *keys, func.sum(R.hits))
        .where(*_days_of(campaign_id, days), R.traffic_type.in_(TRAFFIC_TYPES))
        .group_by(R.campaign_id, R.date, *keys)
    )
    columns = ["campaign_id", "span", "period", *names, "hits"]
    session.execute(insert(DA).from_select([*columns[:3], "domain", *columns[3:]], finest))
    by_domain = [getattr(DA, name) for name in names]
    campaign = (
        select(DA.campaign_id, DA.span, DA.period, *by_domain, func.sum(DA.hits))
        .where(*_real_days(DA, campaign_id, days))
        .group_by(DA.campaign_id, DA.span, DA.period, *by_domain)
    )
    session.execute(insert(A).from_select(columns, campaign))
    for model in (A, DA):
        _coarse_days(session, model, campaign_id, days)


def _real_days(model: Any, campaign_id: int, days: list[dt.date]) -> list[ColumnElement[bool]]:
    return [
        model.campaign_id == campaign_id,
        model.span == DAY,
        model.period.in_(days),
        model.device != ALL,
        model.geo != ALL,
    ]


def _coarse_days(session: Session, model: Any, campaign_id: int, days: list[dt.date]) -> None:
    """``model``'s day rows at every coarser level, from its rows at the real level."""
    kept = [getattr(model, name) for name in _KEYS[model]]
    columns = ["campaign_id", "span", "period", "device", "geo", *_KEYS[model], "hits"]
    for keep in _LEVELS[1:]:
        device, geo = _level(model.device, keep[0]), _level(model.geo, keep[1])
        coarse = (
            select(model.campaign_id, model.span, model.period, device, geo, *kept)
            .add_columns(func.sum(model.hits))
            .where(*_real_days(model, campaign_id, days))
            .group_by(model.campaign_id, model.span, model.period, *_grouped(keep, model), *kept)
        )
        session.execute(insert(model).from_select(columns, coarse))


def _agent_month(session: Session, campaign_id: int, days: list[dt.date], month: dt.date) -> None:
    for span, period in ((MONTH, month), (WHOLE, WHOLE_PERIOD)):
        for model in (A, DA):
            _agent_sums(session, model, campaign_id, days, span, period)


def _agent_sums(
    session: Session,
    model: Any,
    campaign_id: int,
    days: list[dt.date],
    span: str,
    period: dt.date,
) -> None:
    """``model``'s day rows of ``days`` added to its rows of ``span`` and ``period``."""
    names = ["device", "geo", *_KEYS[model]]
    keys = [getattr(model, name) for name in names]
    rows = (
        select(model.campaign_id, literal(span), literal(period), *keys, func.sum(model.hits))
        .where(model.campaign_id == campaign_id, model.span == DAY, model.period.in_(days))
        .group_by(model.campaign_id, *keys)
    )
    columns = ["campaign_id", "span", "period", *names, "hits"]
    insert = upsert_insert(session, model.__table__).from_select(columns, rows)
    unique = ["campaign_id", "span", "period", *names]
    session.execute(
        insert.on_conflict_do_update(
            index_elements=unique, set_={"hits": model.__table__.c.hits + insert.excluded.hits}
        )
    )


def _by_type(kind: str) -> Any:
    return func.sum(case((R.traffic_type == kind, R.hits), else_=0))


def _site_month(
    session: Session,
    campaign_id: int,
    days: list[dt.date],
    span: str,
    period: dt.date,
    keep: tuple[bool, bool],
) -> None:
    flag = case((R.misrepresented.is_(True), "1"), else_="0")
    key_hash = func.md5(R.domain + _SEP + R.macros + _SEP + flag)
    rows = (
        select(
            R.campaign_id,
            literal(span),
            literal(period),
            _level(R.device, keep[0]),
            _level(R.geo, keep[1]),
            func.min(key_hash),
            R.domain,
            R.macros,
            R.misrepresented,
            *(_by_type(kind) for kind in TRAFFIC_TYPES),
        )
        .where(*_days_of(campaign_id, days), R.traffic_type.in_(TRAFFIC_TYPES))
        .group_by(R.campaign_id, *_grouped(keep, R), R.domain, R.macros, R.misrepresented)
    )
    columns = ["campaign_id", "span", "period", "device", "geo", "key_hash", "domain", "macros"]
    insert = upsert_insert(session, S.__table__).from_select(
        [*columns, "misrepresented", *TRAFFIC_TYPES], rows
    )
    table = S.__table__.c
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["campaign_id", "span", "device", "geo", "period", "key_hash"],
            set_={kind: table[kind] + insert.excluded[kind] for kind in TRAFFIC_TYPES},
        )
    )


def _url_month(
    session: Session,
    campaign_id: int,
    days: list[dt.date],
    span: str,
    period: dt.date,
    keep: tuple[bool, bool],
) -> None:
    rows = (
        select(
            R.campaign_id,
            literal(span),
            literal(period),
            _level(R.device, keep[0]),
            _level(R.geo, keep[1]),
            func.min(func.md5(R.url + _SEP + R.domain)),
            R.url,
            func.min(func.md5(R.url)),
            R.domain,
            func.sum(R.hits),
        )
        .where(*_days_of(campaign_id, days), R.traffic_type == "human")
        .group_by(R.campaign_id, *_grouped(keep, R), R.url, R.domain)
    )
    columns = ["campaign_id", "span", "period", "device", "geo", "key_hash", "url", "url_hash"]
    insert = upsert_insert(session, U.__table__).from_select([*columns, "domain", "human"], rows)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["campaign_id", "span", "device", "geo", "period", "key_hash"],
            set_={"human": U.__table__.c.human + insert.excluded.human},
        )
    )


# How often an archived campaign's days are compared with its rollups again. Its pixel keeps
# counting, so a late hit must reach its stats, but a hit is rare there: every campaign ever
# archived is not re-read at the active campaigns' pace.
ARCHIVED_REFOLD_AFTER = dt.timedelta(hours=1)


def queue_folds(session: Session) -> None:
    """Set the folding job of every campaign pending (one row per campaign, created on first
    use; a job queued or running is left alone). Archived campaigns too, at most once per
    ``ARCHIVED_REFOLD_AFTER`` (and at once after a failure): their pixels keep counting, and a
    late hit to a folded day reaches the stats only when the day is refolded."""
    active = select(PixelCampaign.id).where(PixelCampaign.archived_at.is_(None))
    due = or_(
        J.status == FAILED,
        J.campaign_id.in_(active),
        J.processed_date.is_(None),
        J.processed_date < utcnow() - ARCHIVED_REFOLD_AFTER,
    )
    session.execute(
        update(J)
        .where(J.status.in_((COMPLETE, FAILED)), due)
        .values(status=PENDING, attempts=0, error=None, run_after=None)
        .execution_options(synchronize_session=False)
    )
    new = select(
        PixelCampaign.id, literal(PENDING), literal(0), literal(utcnow(), UTCDateTime())
    ).where(
        ~select(J.id).where(J.campaign_id == PixelCampaign.id).exists(),
    )
    insert = upsert_insert(session, J.__table__).from_select(
        ["campaign_id", "status", "attempts", "created_date"], new
    )
    session.execute(insert.on_conflict_do_nothing())
