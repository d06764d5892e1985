"""Paging shared by every list endpoint: its parameters and the page query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Query
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

# Bounded so a huge offset is a clear 422 ("must be at most 1000000000") in the family's
# envelope, never a database integer overflow; no list Beacon keeps comes near it.
MAX_OFFSET = 1_000_000_000

Offset = Annotated[
    int, Query(ge=0, le=MAX_OFFSET, description=f"Results to skip (at most {MAX_OFFSET})")
]


def fetch_page(
    session: Session, query: Select[Any], *, order_by: Sequence[Any], limit: int, offset: int
) -> tuple[Sequence[Any], int]:
    """One page of ``query``'s entities in ``order_by`` order, and the total it matches."""
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(query.order_by(*order_by).limit(limit).offset(offset)).all()
    return items, int(total)
