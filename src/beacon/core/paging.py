"""Paging parameters shared by every list endpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

# Bounded so a huge offset is a 422 in the family's envelope, not a database integer overflow
# (PostgreSQL's OFFSET is a BIGINT).
MAX_OFFSET = 2**62

Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Results to skip")]
