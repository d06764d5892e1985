"""The brand-safety filter's read of the classification store (its published columns)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from beacon.contextual.published import OK, classification_store
from beacon.core.db import in_text_set, json_text


def overall_risks(session: Session, url_hashes: Iterable[str]) -> dict[str, str | None]:
    """The stored overall brand-safety level of each classified URL hash among ``url_hashes``
    (None when its classification predates brand safety); unclassified hashes are absent."""
    stored = classification_store.c
    # Only the level leaves the database, not each page's whole classification JSON.
    overall = json_text(session, stored.classification, "brand_safety", "overall")
    statement = select(stored.url_hash, overall).where(
        stored.status == OK, in_text_set(stored.url_hash, url_hashes)
    )
    return {url_hash: level for url_hash, level in session.execute(statement)}
