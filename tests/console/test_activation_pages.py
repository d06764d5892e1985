"""The activation pages served in-process, where no worker issues deals, so an activation stays
pending: a double-submitted form lands on the pending activation and says so."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from tests.activation.helpers import (
    PAGES,
    built_segment,
    classify_pages,
    issued_deal,
    run_jobs,
    upload_inventory,
)
from tests.console.in_process import member, sign_in

from beacon.console import web
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.permissions import Role


def test_posting_the_same_activation_twice_lands_on_the_pending_one(
    client: TestClient, headers: dict[str, str], db: Database, settings: Settings
) -> None:
    classify_pages(db)
    upload_inventory(client, headers, list(PAGES))
    segment = built_segment(client, headers, db, settings, {"iab_categories": ["IAB19"]})
    token = sign_in(client, member(db, "admin@acme.example.com", Role.admin))
    form = {"segment_ids": str(segment["id"]), "dsp": "Amazon DSP", "buyer_seat": "double"}

    first = client.post(
        "/app/activate/activations", data={**form, "csrf_token": token}, follow_redirects=False
    )
    again = client.post(
        "/app/activate/activations", data={**form, "csrf_token": token}, follow_redirects=False
    )

    assert (first.status_code, again.status_code) == (303, 303), again.text[:300]
    assert again.headers["location"] == first.headers["location"] + "?existing=1"
    assert "already pending" not in client.get(first.headers["location"]).text
    page = client.get(again.headers["location"])
    assert page.status_code == 200
    assert "An identical request was already pending" in page.text
    listed = client.get("/v1/clsfy/activations", headers=headers).json()
    assert [a["buyer_seat"] for a in listed] == ["double"]


def test_a_notice_in_a_link_is_not_shown(
    client: TestClient, headers: dict[str, str], db: Database
) -> None:
    """A console notice is the server's word: one a link carries (a phishing line) shows
    nothing; the one an upload redirects with shows, to the session it was made for."""
    token = sign_in(client, member(db, "admin@acme.example.com", Role.admin))
    lure = "Your account is suspended: call +1 555 0100"
    for page in ("/app/activate/deliveries", "/app/understand/inventory"):
        shown = client.get(page, params={"notice": lure, "notice_sig": "0" * 32})
        assert shown.status_code == 200 and lure not in shown.text
    stored = client.post(
        "/app/understand/inventory",
        data={
            "urls": "https://news.example.com/a\nhttps://news.example.com/b",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert stored.status_code == 303, stored.text[:300]
    landed = client.get(stored.headers["location"])
    assert "2 URLs received: 2 new to the inventory" in landed.text
    # the same words under another session's signature show nothing either
    location = stored.headers["location"]
    sign_in(client, member(db, "owner@acme.example.com", Role.owner))
    assert "2 URLs received" not in client.get(location).text


def test_the_activation_form_posted_again_after_its_deal_was_issued_makes_no_second_deal(
    client: TestClient, headers: dict[str, str], db: Database, settings: Settings
) -> None:
    # Only an identical request still pending was deduplicated: the form posted again once the
    # deal was issued (a slow double click, a reload, the back button) issued a second deal on
    # the DSP. The page's form now carries a one-time nonce, as the API key form does.
    classify_pages(db)
    upload_inventory(client, headers, list(PAGES))
    segment = built_segment(client, headers, db, settings, {"iab_categories": ["IAB19"]})
    token = sign_in(client, member(db, "admin@acme.example.com", Role.admin))
    page = client.get("/app/activate/activations/new")
    nonce = re.search(r'name="form_nonce" value="([^"]+)"', page.text)
    assert nonce is not None
    form = {"segment_ids": str(segment["id"]), "dsp": "Amazon DSP", "buyer_seat": "once",
            "csrf_token": token, "form_nonce": nonce.group(1)}  # fmt: skip

    first = client.post("/app/activate/activations", data=form, follow_redirects=False)
    assert first.status_code == 303
    made = int(first.headers["location"].rsplit("/", 1)[1])
    run_jobs(db, settings)  # the deal is issued: no longer an identical pending request
    issued = client.get(f"/v1/clsfy/activations/{made}", headers=headers).json()
    assert issued["status"] == "complete"
    again = client.post("/app/activate/activations", data=form, follow_redirects=False)

    assert again.status_code == 303
    assert again.headers["location"] == f"/app/activate/activations/{made}?existing=1"
    listed = client.get("/v1/clsfy/activations", headers=headers).json()
    assert [a["buyer_seat"] for a in listed] == ["once"]
    stale = client.post(
        "/app/activate/activations", data={**form, "form_nonce": "old"}, follow_redirects=False
    )
    assert stale.status_code == 422 and "out of date" in stale.text


def _cells(html: str, table: str) -> list[list[str]]:
    body = re.search(rf'<table id="{table}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body is not None, f"no table {table}"
    rows = re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows]


def test_a_segment_reports_money_has_thousands_separators_like_every_other_number(
    client: TestClient, headers: dict[str, str], db: Database, settings: Settings
) -> None:
    # Impressions read "1,234,567" beside a spend of "1234567.89" and an eCPM of "1000.00".
    classify_pages(db)
    upload_inventory(client, headers, list(PAGES))
    segment = built_segment(client, headers, db, settings, {"iab_categories": ["IAB19"]})
    deal = issued_deal(client, headers, db, settings, [segment["id"]])["deal_id"]
    row = {"date": "2026-01-15", "deal_id": deal, "device": "desktop", "format": "banner"}
    row |= {"domain": "nytimes.com", "geo": "US"}
    row |= {"impressions": 1_234_567, "clicks": 12_345, "spend": 1_234_567.89}
    stored = client.post(
        "/v1/clsfy/deliveries", headers=headers, json={"batch_id": "big", "rows": [row]}
    )
    assert stored.status_code == 201, stored.text
    report = client.post(
        "/v1/clsfy/reports",
        headers=headers,
        json={
            "segment_ids": [segment["id"]],
            "start_date": "2026-01-01",
            "end_date": "2026-01-31",
            "dimensions": ["date", "device", "format", "domain"],
        },
    )
    assert report.status_code == 201, report.text
    run_jobs(db, settings)
    sign_in(client, member(db, "analyst@acme.example.com", Role.analyst))

    page = client.get(f"/app/activate/reports/{report.json()['id']}")

    assert page.status_code == 200
    expected = ["1,234,567", "12,345", "1,234,567.89", "1.0%", "1,000.00"]
    for table in ("by-date", "by-device", "by-format", "by-domain"):
        assert [cells[1:] for cells in _cells(page.text, table)] == [expected], table
    assert '<dd id="sum-spend">1,234,567.89</dd>' in page.text
    assert '<dd id="sum-ecpm">1,000.00</dd>' in page.text


def test_counts_agree_with_their_words() -> None:
    assert [web.counted(n, "row") for n in (0, 1, 2, 12_000)] == [
        "0 rows",
        "1 row",
        "2 rows",
        "12,000 rows",
    ]
    assert [web.plural("matches", n, "match") for n in (1, 5)] == ["matches", "match"]


def test_one_delivery_row_reads_1_row_from_its_check_to_its_notice(
    client: TestClient, headers: dict[str, str], db: Database, settings: Settings
) -> None:
    # The deliveries page said "one.csv: 1 rows", "Store 1 rows" and "stored: 1 rows".
    classify_pages(db)
    upload_inventory(client, headers, list(PAGES))
    segment = built_segment(client, headers, db, settings, {"iab_categories": ["IAB19"]})
    deal = issued_deal(client, headers, db, settings, [segment["id"]])["deal_id"]
    csv_text = (
        "date,deal_id,device,format,domain,geo,impressions,clicks,spend\n"
        f"2026-01-15,{deal},desktop,banner,nytimes.com,US,1,1,0.5\n"
    )
    token = sign_in(client, member(db, "analyst@acme.example.com", Role.analyst))

    checked = client.post(
        "/app/activate/deliveries/preview",
        data={"csrf_token": token},
        files={"file": ("one.csv", csv_text.encode(), "text/csv")},
    )
    stored = client.post(
        "/app/activate/deliveries", data={"csrf_token": token, "csv_text": csv_text}
    )

    assert checked.status_code == 200, checked.text
    assert "one.csv: 1 row</h2>" in checked.text
    assert "<h3>First row</h3>" in checked.text
    assert ">Store 1 row</button>" in checked.text
    assert stored.status_code == 200
    assert "stored: 1 row, 1 impression, 1 click, 0.50 spend" in stored.text
    assert "1 rows" not in checked.text + stored.text
