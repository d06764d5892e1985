"""Inventory rows whose page could not be classified say why (`reason`)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from fastapi.testclient import TestClient
from tests.activation.helpers import API, upload_inventory

from beacon.contextual import service
from beacon.contextual.pages import PageResult
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.timefmt import utcnow
from beacon.pixel.classification import classify_due

FINE, MISSING = "https://www.example.com/fine", "https://www.example.com/missing"


def _fetched(*, urls: Sequence[str], settings: Settings) -> list[PageResult]:
    # What the fetcher answers for these two pages (the public web is out of reach in tests).
    text = "Liverpool beat Manchester City in the Premier League football match at Anfield."
    return [
        PageResult(
            url=url,
            classification=None,
            error=f"HTTP status 404 from {url}",
            classified_at=utcnow(),
        )
        if url == MISSING
        else PageResult(
            url=url,
            classification=service.classify_content(text=text, settings=settings),
            error=None,
            classified_at=utcnow(),
        )
        for url in urls
    ]


def test_error_rows_carry_the_fetch_error_in_words(
    client: TestClient,
    headers: dict[str, str],
    db: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    upload_inventory(client, headers, [FINE, MISSING])
    monkeypatch.setattr(service, "classify_pages", _fetched)
    assert classify_due(db=db, settings=settings) == 2
    rows = {
        row["url"]: row for row in client.get(f"{API}/inventory", headers=headers).json()["data"]
    }
    assert rows[MISSING]["status"] == "error"
    assert rows[MISSING]["reason"] == f"HTTP status 404 from {MISSING}"
    assert rows[FINE]["status"] == "ok"
    assert "reason" not in rows[FINE]
