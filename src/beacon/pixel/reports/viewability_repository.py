"""Measured viewability in campaign reports: `PixelViewability` beside the rollups' impressions.

Viewability counters have every campaign-report dimension and filter column, so whatever
table a report's impressions come from (`planner`), its rows join the counters grouped the
same way, and its summary sums them over the same scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, FromClause, Select, Subquery, and_, func, select
from sqlalchemy.orm import Session

from beacon.core.db import in_text_set
from beacon.pixel.viewability_models import PixelViewability as PV

if TYPE_CHECKING:
    from beacon.pixel.reports.aggregation_repository import Scope

MEASURES = ("measurable_impressions", "viewable_impressions")
_FILTERS = {"domains": PV.domain, "devices": PV.device, "geo": PV.geo}


def _where(scope: Scope) -> list[ColumnElement[bool]]:
    conditions = [PV.campaign_id == scope.campaign_id, PV.date >= scope.start, PV.date <= scope.end]
    for key, values in scope.filters.items():
        conditions.append(_FILTERS[key].in_(list(values)))
    if scope.urls is not None:
        conditions.append(in_text_set(PV.url, scope.urls))
    return conditions


def grouped(scope: Scope, dimensions: Sequence[str]) -> Select[Any]:
    """Measurable and viewable impressions per dimension combination and macro set."""
    columns = [getattr(PV, name).label(name) for name in (*dimensions, "macros")]
    return (
        select(
            *columns,
            func.sum(PV.measurable).label("measurable"),
            func.sum(PV.viewable).label("viewable"),
        )
        .where(*_where(scope))
        .group_by(*columns)
    )


def join_rows(
    rows: Subquery, scope: Scope, dimensions: Sequence[str]
) -> tuple[FromClause, list[Any]]:
    """``rows`` (grouped impressions) left-joined to their viewability, and its two measures."""
    counters = grouped(scope, dimensions).subquery("viewability")
    on = and_(*(rows.c[name] == counters.c[name] for name in (*dimensions, "macros")))
    measures = [
        func.coalesce(counters.c.measurable, 0).label(MEASURES[0]),
        func.coalesce(counters.c.viewable, 0).label(MEASURES[1]),
    ]
    return rows.outerjoin(counters, on), measures


def totals(session: Session, *, scope: Scope) -> tuple[int, int]:
    """(measurable, viewable) impressions over the report's scope."""
    statement = select(
        func.coalesce(func.sum(PV.measurable), 0), func.coalesce(func.sum(PV.viewable), 0)
    ).where(*_where(scope))
    measurable, viewable = session.execute(statement).one()
    return int(measurable), int(viewable)
