"""The write side of pixel rollups: batched atomic increments, safe across processes."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import orjson
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from beacon.core.db import is_postgres
from beacon.pixel.models import PixelRollup


@dataclass(frozen=True)
class RollupKey:
    """One combination of dimensions a hit is counted under."""

    campaign_id: int
    date: dt.date
    domain: str = ""
    url: str = ""
    device: str = ""
    geo: str = ""
    traffic_type: str = "human"
    agent: str = ""
    macros: str = ""  # canonical JSON (sorted keys) or '' when the hit carried none
    misrepresented: bool = False

    @property
    def dims_hash(self) -> str:
        """Stable identity of the dimension values within a campaign."""
        parts = (
            self.date.isoformat(), self.domain, self.url, self.device, self.geo,
            self.traffic_type, self.agent, self.macros, "1" if self.misrepresented else "0",
        )  # fmt: skip
        return hashlib.sha1("\x1f".join(parts).encode(), usedforsecurity=False).hexdigest()


def canonical_macros(macros: Mapping[str, str]) -> str:
    """Macros as sorted-key JSON, or '' when there are none."""
    return orjson.dumps(dict(sorted(macros.items()))).decode() if macros else ""


def increment(session: Session, counts: Mapping[RollupKey, int]) -> None:
    """Add ``counts`` to the rollups in one statement per chunk (INSERT .. ON CONFLICT DO UPDATE)."""
    rows = [_row(key, hits) for key, hits in counts.items() if hits]
    if not rows:
        return
    insert = pg_insert if is_postgres(session) else sqlite_insert
    for chunk in _chunks(rows, 500):
        statement = insert(PixelRollup).values(chunk)
        statement = statement.on_conflict_do_update(
            index_elements=["campaign_id", "dims_hash"],
            set_={"hits": PixelRollup.hits + statement.excluded.hits},
        )
        session.execute(statement)


def _row(key: RollupKey, hits: int) -> dict[str, object]:
    return {
        "campaign_id": key.campaign_id,
        "date": key.date,
        "dims_hash": key.dims_hash,
        "domain": key.domain[:255],
        "url": key.url,
        "device": key.device,
        "geo": key.geo,
        "traffic_type": key.traffic_type,
        "agent": key.agent[:100],
        "macros": key.macros,
        "misrepresented": key.misrepresented,
        "hits": hits,
    }


def _chunks(rows: list[dict[str, object]], size: int) -> Iterable[list[dict[str, object]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
