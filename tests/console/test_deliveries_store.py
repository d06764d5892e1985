"""Activate → Deliveries in-process: a checked file of any size the page takes is stored."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.activation.helpers import (
    PAGES,
    built_segment,
    classify_pages,
    issued_deal,
    upload_inventory,
)
from tests.console.in_process import member, sign_in

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.permissions import Role


def test_a_checked_file_over_one_megabyte_is_stored(
    client: TestClient, headers: dict[str, str], db: Database, settings: Settings
) -> None:
    # "Store N rows" posts the checked file back as a form field; FastAPI's own form parsing
    # kept Starlette's 1 MB a field, so a file the check accepted (up to 10 MB) got a 400 page.
    classify_pages(db)
    upload_inventory(client, headers, list(PAGES))
    segment = built_segment(client, headers, db, settings, {"iab_categories": ["IAB19"]})
    deal = issued_deal(client, headers, db, settings, [segment["id"]])["deal_id"]
    token = sign_in(client, member(db, "analyst@acme.example.com", Role.analyst))
    lines = [
        f"2026-01-15,{deal},desktop,banner,site{i}.example.com,US,100,1,0.25" for i in range(16_000)
    ]
    text = "date,deal_id,device,format,domain,geo,impressions,clicks,spend\n" + "\n".join(lines)
    assert len(text) > 1024 * 1024
    form = {"csrf_token": token, "csv_text": text, "batch_id": "big"}
    stored = client.post("/app/activate/deliveries", data=form, follow_redirects=False)
    assert stored.status_code == 303, stored.text[-600:]
    page = client.get(stored.headers["location"])
    assert "Batch big stored: 16,000 rows, 1,600,000 impressions" in page.text
