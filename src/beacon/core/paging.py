"""Paging parameters shared by every list endpoint (the page query is ``core.db.fetch_page``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

# Bounded so a huge offset is a clear 422 ("must be at most 1000000000") in the family's
# envelope, never a database integer overflow; no list Beacon keeps comes near it.
MAX_OFFSET = 1_000_000_000

Offset = Annotated[
    int, Query(ge=0, le=MAX_OFFSET, description=f"Results to skip (at most {MAX_OFFSET})")
]
