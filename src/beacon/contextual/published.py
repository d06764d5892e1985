"""What the contextual domain publishes for other domains to read in SQL.

The classification store (``UrlClassification``) is contextual's own table: its bookkeeping
(attempts, the next attempt, the engine version, extracted titles) changes with the engine.
Another domain that must filter or page its own rows by classification in one query (the
Activate inventory: "my URLs that failed", "my URLs in IAB19") joins ``classification_store``
instead, a table clause of the store's public columns only, and reads its rows as
``StoredClassification``. Status values are the ones below.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import TableClause, column, table

from beacon.contextual.models import ERROR, OK, PENDING, UrlClassification

__all__ = [
    "ERROR",
    "OK",
    "PENDING",
    "PUBLISHED_COLUMNS",
    "StoredClassification",
    "classification_store",
]

# One row per normalised URL (``url_hash`` as ``contextual.service.url_key`` computes it).
PUBLISHED_COLUMNS = ("url_hash", "status", "error", "classification", "classified_at")

_store = UrlClassification.__table__
classification_store: TableClause = table(
    UrlClassification.__tablename__,
    *(column(name, _store.c[name].type) for name in PUBLISHED_COLUMNS),
)


class StoredClassification(NamedTuple):
    """A URL's row in the store as other domains see it: ``status`` is ``ok``, ``error`` or
    ``pending``; ``classification`` is the ``/v1`` wire JSON once ``ok``."""

    status: str
    error: str | None
    classification: str | None
    classified_at: datetime | None
