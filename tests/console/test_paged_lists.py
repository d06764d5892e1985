"""Every paged console table asked for a page past its last row (an old link, a typed offset,
rows that went away) says so, with the total and a link to the last page, instead of an empty
table or a "nothing yet" message. The Measure report and the inventory have tests of their own
(test_measure_pages.py, test_inventory_page.py)."""

from __future__ import annotations

import re
from html import unescape

import pytest
from fastapi.testclient import TestClient
from tests.activation.helpers import PAGES, built_segment, classify_pages, upload_inventory
from tests.console.in_process import member, sign_in

from beacon.console.pages import orchestrate_campaigns, orchestrate_contacts, segment_reports
from beacon.console.pages import segments as segment_pages
from beacon.core.auth import get_or_create_account
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.permissions import Role
from beacon.messaging.audience_schemas import ContactIn
from beacon.messaging.audiences import contacts
from beacon.messaging.campaign_schemas import CampaignCreate
from beacon.messaging.campaigns import service as campaigns


def past_end(html: str) -> tuple[str, str]:
    """The past-the-end notice's words and the href of its link to the last page."""
    found = re.search(r'id="past-end"[^>]*>(.*?)</div>', html, re.S)
    assert found is not None, "no past-the-end notice"
    link = re.search(r'href="([^"]+)"', found.group(1))
    assert link is not None
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", unescape(found.group(1)))), unescape(
        link.group(1)
    )


@pytest.fixture
def admin(client: TestClient, db: Database) -> str:
    return sign_in(client, member(db, "admin@acme.example.com", Role.admin))


def account_id(db: Database) -> int:
    with db.transaction() as session:
        return get_or_create_account(session=session, name="acme").id


def test_orchestrate_campaigns_past_the_end(
    client: TestClient, db: Database, admin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.transaction() as session:
        for i in range(3):
            data = CampaignCreate.model_validate({"name": f"Page {i}", "channel": "sms"})
            campaigns.create_campaign(session=session, account_id=account_id(db), data=data)
    monkeypatch.setattr(orchestrate_campaigns, "PAGE", 2)
    words, href = past_end(client.get("/app/orchestrate/campaigns?offset=8").text)
    assert words == "This page is past the end: there are 3 campaigns. Go to the last page."
    assert href == "?offset=2"
    assert "Page 0" in client.get("/app/orchestrate/campaigns" + href).text  # the oldest one


def test_orchestrate_contacts_past_the_end(
    client: TestClient, db: Database, admin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = [ContactIn.model_validate({"email": f"p{i}@example.com"}) for i in range(3)]
    with db.transaction() as session:
        contacts.upsert_contacts(session=session, account_id=account_id(db), contacts=people)
    monkeypatch.setattr(orchestrate_contacts, "PAGE", 2)
    page = client.get("/app/orchestrate/contacts?q=example&offset=6")
    assert "No matching contacts" not in page.text
    words, href = past_end(page.text)
    assert words == "This page is past the end: 3 contacts match “example”. Go to the last page."
    assert href == "?q=example&offset=2"


def test_segment_members_past_the_end(
    client: TestClient,
    headers: dict[str, str],
    db: Database,
    settings: Settings,
    admin: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    classify_pages(db)
    upload_inventory(client, headers, list(PAGES))
    segment = built_segment(client, headers, db, settings, {"iab_categories": ["IAB19"]})
    total = segment["url_count"]
    assert total >= 2
    monkeypatch.setattr(segment_pages, "MEMBERS_PAGE", 1)
    page = client.get(f"/app/activate/segments/{segment['id']}?offset=50")
    assert "No URL of the inventory matches" not in page.text
    words, href = past_end(page.text)
    assert words.startswith(f"This page is past the end: {total} URLs are members.")
    assert href == f"/app/activate/segments/{segment['id']}?offset={total - 1}"


def test_segment_reports_list_past_the_end(
    client: TestClient,
    headers: dict[str, str],
    db: Database,
    admin: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for day in ("2026-01-01", "2026-01-02", "2026-01-03"):
        made = client.post(
            "/v1/clsfy/reports", headers=headers, json={"start_date": day, "end_date": day}
        )
        assert made.status_code in (200, 201, 202), made.text
    monkeypatch.setattr(segment_reports, "LIST_PAGE", 2)
    page = client.get("/app/activate/reports?page=7")
    assert "No segment reports yet" not in page.text
    words, href = past_end(page.text)
    assert (
        words == "This page is past the end: there are 3 reports on 2 pages. Go to the last page."
    )
    assert href == "/app/activate/reports?page=2"
