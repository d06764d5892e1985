"""The Measure pages over HTTP (no browser): the dashboard's numbers and filters, the pixel code
page and its live hits, reports created, watched, paged, sorted and downloaded as CSV, roles
and account isolation. The browser tests (test_measure.py) drive the same pages in Chromium."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.console.in_process import member, sign_in
from tests.pixel.test_collector import UA

from beacon.contextual.classification_repository import save_classification
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.models import Account
from beacon.core.permissions import Role
from beacon.core.timefmt import utcnow
from beacon.core.worker import Worker
from beacon.pixel import viewability_repository as view_counters
from beacon.pixel.reports import repository as report_repository
from beacon.pixel.reports import service as report_service
from beacon.pixel.rollups import RollupKey, canonical_macros, increment
from beacon.pixel.stats import folds
from beacon.pixel.tasks import report_job
from beacon.pixel.viewability_repository import Dimensions

D1, D2 = dt.date(2026, 1, 15), dt.date(2026, 1, 16)
NYT = canonical_macros({"site": "nytimes.com"})


def campaign(client: TestClient, headers: dict[str, str], use_case: str, name: str = "c") -> int:
    response = client.post(
        "/v1/pixel/campaigns", json={"name": name, "use_case": use_case}, headers=headers
    )
    assert response.status_code == 201
    return int(response.json()["id"])


def add_hits(db: Database, cid: int) -> None:
    def key(day: dt.date, domain: str, device: str, geo: str, **kw: Any) -> RollupKey:
        return RollupKey(
            cid, day, domain, f"https://{domain}/a" if domain else "", device, geo, **kw
        )

    with db.transaction() as session:
        increment(
            session,
            {
                key(D1, "nytimes.com", "desktop", "US", macros=NYT): 1500,
                key(D1, "bbc.com", "mobile", "GB"): 300,
                key(D1, "nytimes.com", "desktop", "US", traffic_type="bot", agent="Googlebot"): 20,
                key(D1, "nytimes.com", "desktop", "US", traffic_type="ai_agent", agent="GPTBot"): 7,
                key(D2, "cheap.biz", "mobile", "US", macros=NYT, misrepresented=True): 60,
            },
        )


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def analyst(client: TestClient, db: Database) -> str:
    member(db, "owner@acme.example.com", Role.owner)
    return sign_in(client, member(db, "analyst@acme.example.com", Role.analyst))


def test_dashboard_shows_totals_breakdowns_and_keeps_filters_in_the_url(
    client: TestClient, headers: dict[str, str], db: Database, analyst: str
) -> None:
    cid = campaign(client, headers, "campaign_reporting")
    add_hits(db, cid)
    page = client.get(f"/app/pixel/campaigns/{cid}?start_date=2026-01-15&end_date=2026-01-16")
    assert page.status_code == 200
    body = text(page.text)
    assert "1,860" in body  # impressions: 1500 + 300 + 60, with a thousands separator
    assert "Misrepresented inventory" in body and "cheap.biz" in body
    assert "Hourly series are not available" in body
    assert 'data-series="' in page.text and "2026-01-16" in page.text
    assert "nytimes.com" in body and "bbc.com" in body and "GB" in body
    # The breakdowns' share is of all loads (bots included), not of the impressions beside it:
    # desktop has 1,527 of 1,887 loads (80.9%) but 1,500 of 1,860 impressions (80.6%).
    devices = text(page.text.split('id="by-device"')[1].split("</table>")[0])
    assert "Share of loads" in devices and "80.9%" in devices
    # A domain link narrows the dashboard and keeps the dates.
    assert (
        f"/app/pixel/campaigns/{cid}?start_date=2026-01-15&amp;end_date=2026-01-16&amp;domain=bbc.com"
        in page.text
    )
    filtered = client.get(
        f"/app/pixel/campaigns/{cid}?start_date=2026-01-15&end_date=2026-01-16&domain=bbc.com&device=&country="
    )
    assert filtered.status_code == 200
    assert 'id="total-impressions">300<' in filtered.text
    today = utcnow().date()
    week = f"start_date={today - dt.timedelta(days=6)}&amp;end_date={today}&amp;domain=bbc.com"
    assert f"/app/pixel/campaigns/{cid}?{week}" in filtered.text  # presets keep the filters
    wrong = client.get(f"/app/pixel/campaigns/{cid}?device=phone&country=XX")
    assert wrong.status_code == 422
    assert "There is a problem" in wrong.text and "country" in text(wrong.text)


def test_publisher_view_lists_agents_and_operators(
    client: TestClient, headers: dict[str, str], db: Database, analyst: str
) -> None:
    cid = campaign(client, headers, "publisher_bot_detection")
    add_hits(db, cid)
    page = client.get(f"/app/pixel/campaigns/{cid}?start_date=2026-01-15&end_date=2026-01-16")
    body = text(page.text)
    assert page.status_code == 200
    assert "Bots and AI agents" in body and "GPTBot" in body and "Googlebot" in body
    assert "OpenAI" in body  # GPTBot's operator
    assert 'id="total-loads">1,887<' in page.text


def test_pixel_code_for_a_dsp_and_the_live_hits(
    client: TestClient, headers: dict[str, str], db: Database, analyst: str
) -> None:
    cid = campaign(client, headers, "campaign_reporting")
    page = client.get(f"/app/pixel/campaigns/{cid}/code?dsp=The+Trade+Desk")
    assert page.status_code == 200
    assert "%%TTD_SITE%%" in page.text and 'data-copy-target="tag-img"' in page.text
    assert "Waiting for the first hit" in page.text
    wrong = client.get(f"/app/pixel/campaigns/{cid}/code?dsp=tradedesk")
    assert wrong.status_code == 422 and "The Trade Desk" in text(wrong.text)
    gam = client.get(f"/app/pixel/campaigns/{cid}/code?dsp=&ad_server=gam")
    assert gam.status_code == 200 and "%%ADUNIT%%" in gam.text
    both = client.get(f"/app/pixel/campaigns/{cid}/code?dsp=DV360&ad_server=cm360")
    assert both.status_code == 422 and "choose either dsp or ad_server" in both.text
    with db.transaction() as session:
        increment(
            session,
            {
                RollupKey(
                    cid, utcnow().date(), "example.com", "https://example.com/p", "desktop", "FR"
                ): 3
            },
        )
    hits = client.get(f"/app/pixel/campaigns/{cid}/hits", headers={"HX-Request": "true"})
    assert hits.status_code == 200 and "<html" not in hits.text
    assert "https://example.com/p" in hits.text and "FR" in hits.text


def test_report_created_watched_paged_sorted_and_downloaded(
    client: TestClient,
    headers: dict[str, str],
    db: Database,
    settings: Settings,
    analyst: str,
) -> None:
    cid = campaign(client, headers, "campaign_reporting", "Spring")
    add_hits(db, cid)
    form = client.get(f"/app/pixel/reports/new?campaign_id={cid}")
    assert form.status_code == 200 and "Spring" in form.text
    created = client.post(
        "/app/pixel/reports",
        data={
            "csrf_token": analyst,
            "campaign_id": str(cid),
            "start_date": "2026-01-15",
            "end_date": "2026-01-16",
            "dimensions": ["domain", "device"],
        },
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    location = created.headers["location"]
    assert re.fullmatch(r"/app/pixel/reports/campaign/\d+", location)
    report_id = int(location.rsplit("/", 1)[1])
    pending = client.get(location, headers={"HX-Request": "true"})
    assert "Pending" in pending.text and 'hx-trigger="every 1s"' in pending.text
    Worker(db=db, kinds=[report_job(settings)]).run_until_idle()
    done = client.get(location, headers={"HX-Request": "true"})
    assert "Complete" in done.text and "hx-trigger" not in done.text
    assert "1,860" in text(done.text)

    api = client.get(f"/v1/pixel/reports/campaign/{report_id}", headers=headers).json()
    download = client.get(f"{location}/csv")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [(r["domain"], r["device"], int(r["impressions"])) for r in rows] == [
        (row["domain"], row["device"], row["impressions"]) for row in api["data"]
    ]

    by_impressions = client.get(f"{location}?sort=impressions&order=asc&limit=25")
    cells = re.findall(r'data-column="impressions">([\d,]+)<', by_impressions.text)
    numbers = [int(c.replace(",", "")) for c in cells]
    assert numbers == sorted(numbers) and len(numbers) == len(api["data"])
    paged = client.get(f"{location}?limit=1&offset=1&sort=impressions&order=desc")
    assert "Rows 2–2 of 3" in text(paged.text)
    assert client.get(f"{location}?sort=payload").status_code == 422
    listing = client.get("/app/pixel/reports")
    assert f"/app/pixel/reports/campaign/{report_id}" in listing.text and "Complete" in listing.text


def test_report_form_filters_by_brand_safety_and_shows_what_was_left_out(
    client: TestClient,
    headers: dict[str, str],
    db: Database,
    settings: Settings,
    analyst: str,
) -> None:
    cid = campaign(client, headers, "campaign_reporting", "Safe")
    add_hits(db, cid)
    with db.transaction() as session:
        save_classification(
            session, url="https://nytimes.com/a", domain="nytimes.com",
            classification={"brand_safety": {"overall": "low", "categories": {}}},
            engine_version="test", classified_at=utcnow(),
        )  # fmt: skip
    form = client.get(f"/app/pixel/reports/new?campaign_id={cid}")
    assert 'name="brand_safety_max_risk"' in form.text and 'value="medium"' in form.text
    created = client.post(
        "/app/pixel/reports",
        data={
            "csrf_token": analyst,
            "campaign_id": str(cid),
            "start_date": "2026-01-15",
            "end_date": "2026-01-16",
            "dimensions": ["domain"],
            "brand_safety_max_risk": "medium",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    location = created.headers["location"]
    Worker(db=db, kinds=[report_job(settings)]).run_until_idle()
    api = client.get(f"/v1/pixel/reports/campaign/{location.rsplit('/', 1)[1]}", headers=headers)
    summary = api.json()["summary"]
    # nytimes.com/a (low) only; bbc.com/a and cheap.biz/a are not classified.
    assert summary["impressions"] == 1500
    assert summary["brand_safety_unclassified_impressions"] == 360
    done = text(client.get(location).text)
    assert "Left out by brand safety 360" in done and "Of those, not classified 360" in done
    bad = client.post(
        "/app/pixel/reports",
        data={"csrf_token": analyst, "campaign_id": str(cid), "start_date": "2026-01-15",
              "end_date": "2026-01-16", "brand_safety_max_risk": "severe"},
    )  # fmt: skip
    assert bad.status_code == 422
    assert "There is a problem" in text(bad.text)


def test_report_form_errors_are_summarised(
    client: TestClient, headers: dict[str, str], analyst: str
) -> None:
    cid = campaign(client, headers, "campaign_reporting")
    response = client.post(
        "/app/pixel/reports",
        data={
            "csrf_token": analyst,
            "campaign_id": str(cid),
            "start_date": "2026-02-01",
            "end_date": "2026-01-01",
            "dimensions": ["agent"],
            "geo": "ZZ",
        },
    )
    assert response.status_code == 422
    body = text(response.text)
    assert "There is a problem" in body
    assert "publisher reports only" in body and "before start_date" in body
    ivt = client.post(
        "/app/pixel/reports",
        data={"csrf_token": analyst, "campaign_id": str(cid), "start_date": "2026-01-01",
              "end_date": "2026-01-02", "dimensions": ["ivt_reason"]},
    )  # fmt: skip
    assert ivt.status_code == 422
    # The message named only traffic type and agent, not the box that was ticked.
    assert "invalid-traffic reason break down publisher reports only" in text(ivt.text)


def test_a_viewer_reads_but_cannot_create_reports(
    client: TestClient, headers: dict[str, str], db: Database
) -> None:
    cid = campaign(client, headers, "campaign_reporting")
    csrf = sign_in(client, member(db, "viewer@acme.example.com", Role.viewer))
    assert client.get(f"/app/pixel/campaigns/{cid}").status_code == 200
    listing = client.get("/app/pixel/reports")
    assert listing.status_code == 200 and 'id="new-report"' not in listing.text
    assert client.get("/app/pixel/reports/new").status_code == 403
    refused = client.post(
        "/app/pixel/reports",
        data={
            "csrf_token": csrf,
            "campaign_id": str(cid),
            "start_date": "2026-01-15",
            "end_date": "2026-01-16",
        },
    )
    assert refused.status_code == 403 and "cannot run reports" in refused.text


def test_another_accounts_campaign_and_report_are_404(
    client: TestClient, headers: dict[str, str], db: Database, key_for: Any, settings: Settings
) -> None:
    other = {"X-API-Key": key_for("globex")}
    theirs = campaign(client, other, "campaign_reporting")
    report = client.post(
        "/v1/pixel/reports/campaign",
        json={"campaign_id": theirs, "start_date": "2026-01-01", "end_date": "2026-01-02"},
        headers=other,
    ).json()
    Worker(db=db, kinds=[report_job(settings)]).run_until_idle()
    sign_in(client, member(db, "analyst@acme.example.com", Role.analyst))
    for path in (
        f"/app/pixel/campaigns/{theirs}",
        f"/app/pixel/campaigns/{theirs}/code",
        f"/app/pixel/campaigns/{theirs}/hits",
        f"/app/pixel/reports/campaign/{report['id']}",
        f"/app/pixel/reports/campaign/{report['id']}/csv",
        "/app/pixel/reports/weekly/1",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Page not found" in response.text


def test_csv_export_reads_the_stored_rows_a_page_at_a_time(
    client: TestClient,
    headers: dict[str, str],
    db: Database,
    settings: Settings,
    analyst: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cid = campaign(client, headers, "campaign_reporting")
    add_hits(db, cid)
    created = client.post(
        "/v1/pixel/reports/campaign",
        json={
            "campaign_id": cid,
            "start_date": "2026-01-15",
            "end_date": "2026-01-16",
            "dimensions": ["date", "domain"],
        },
        headers=headers,
    ).json()
    not_yet = client.get(f"/app/pixel/reports/campaign/{created['id']}/csv")
    assert not_yet.status_code == 422 and "once complete" in not_yet.text
    Worker(db=db, kinds=[report_job(settings)]).run_until_idle()
    api = client.get(f"/v1/pixel/reports/campaign/{created['id']}", headers=headers).json()

    pages: list[tuple[int, int]] = []
    real_page_rows = report_repository.page_rows

    def page_rows(session: Any, *, report_id: int, offset: int, limit: int) -> list[str]:
        pages.append((offset, limit))
        return real_page_rows(session, report_id=report_id, offset=offset, limit=limit)

    monkeypatch.setattr(report_service, "EXPORT_PAGE", 2)
    monkeypatch.setattr(report_repository, "page_rows", page_rows)
    with db.transaction() as session:
        _, rows = report_service.export_rows(
            session=session, account_id=api_account(db), kind="campaign", report_id=created["id"]
        )
        first = next(rows)
        assert pages == [(0, 2)]  # lazy: one page read for the first row
        exported = [first, *rows]
    assert pages == [(0, 2), (2, 2)]
    assert exported == api["data"]


def api_account(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(Account.id).where(Account.name == "acme")) or 0)


def test_dashboard_shows_measured_viewability(
    client: TestClient, headers: dict[str, str], db: Database, analyst: str
) -> None:
    cid = campaign(client, headers, "campaign_reporting")
    add_hits(db, cid)
    page = client.get(f"/app/pixel/campaigns/{cid}?start_date=2026-01-15&end_date=2026-01-16")
    assert "Viewability — Nothing measurable" in text(page.text)
    nyt = Dimensions(D1, "nytimes.com", "https://nytimes.com/a", "desktop", "US", NYT)
    with db.transaction() as session:
        view_counters.increment(session, measurable={(cid, nyt): 800}, viewable={(cid, nyt): 600})
    page = client.get(f"/app/pixel/campaigns/{cid}?start_date=2026-01-15&end_date=2026-01-16")
    assert "Viewability 75.0% 600 viewable of 800 measurable" in text(page.text)


def test_report_rows_show_the_classification_in_words_not_python_data(
    client: TestClient, headers: dict[str, str], db: Database, settings: Settings, analyst: str
) -> None:
    cid = campaign(client, headers, "campaign_reporting")
    add_hits(db, cid)
    with db.transaction() as session:
        save_classification(
            session, url="https://nytimes.com/a", domain="nytimes.com",
            classification={
                "iab_categories": [{"id": "IAB17", "name": "Sports", "confidence": 0.9,
                                    "tier": 1, "subcategory": None}],
                "keywords": ["final", "league", "goals", "coach", "derby", "transfer"],
                "entities": [{"name": "Real Madrid", "type": "organization"}],
                "sentiment": {"label": "positive", "score": 0.8},
                "brand_safety": {"overall": "low", "categories": {}},
            },
            engine_version="test", classified_at=utcnow(),
        )  # fmt: skip
    created = client.post(
        "/app/pixel/reports",
        data={"csrf_token": analyst, "campaign_id": str(cid), "start_date": "2026-01-15",
              "end_date": "2026-01-15", "dimensions": ["url"], "include_classification": "true"},
        follow_redirects=False,
    )  # fmt: skip
    assert created.status_code == 303, created.text
    Worker(db=db, kinds=[report_job(settings)]).run_until_idle()
    page = client.get(created.headers["location"])
    # Before: the lists printed as Python reprs: [{&#39;id&#39;: &#39;IAB17&#39;, ... None}]
    assert "{&#39;" not in page.text and "[&#39;" not in page.text
    cells = re.findall(
        r'<td class="cell-url" data-column="classification">(.*?)</td>', page.text, re.S
    )
    cell = text(cells[0])
    assert "None" not in cell and "[" not in cell
    assert "Sports" in cell and "Sentiment: positive" in cell
    assert "Brand-safety risk: low" in cell
    assert "Keywords: final, league, goals, coach, derby, …" in cell
    download = client.get(f"{created.headers['location']}/csv")
    row = next(r for r in csv.DictReader(io.StringIO(download.text)) if r["classification"])
    assert '"name":"Sports"' in row["classification"]  # the CSV keeps the whole JSON


def _report(client: TestClient, analyst: str, cid: int, **fields: Any) -> Any:
    data = {"csrf_token": analyst, "campaign_id": str(cid), "start_date": "2026-01-15",
            "end_date": "2026-01-16", **fields}  # fmt: skip
    return client.post("/app/pixel/reports", data=data, follow_redirects=False)


def test_a_report_page_past_the_last_row_says_so_and_links_to_the_last_page(
    client: TestClient, headers: dict[str, str], db: Database, settings: Settings, analyst: str
) -> None:
    cid = campaign(client, headers, "campaign_reporting")
    add_hits(db, cid)
    created = _report(client, analyst, cid, dimensions=["domain", "device"])
    assert created.status_code == 303, created.text
    Worker(db=db, kinds=[report_job(settings)]).run_until_idle()
    location = created.headers["location"]
    # 3 rows: with 2 a page, offset 10 is past the end and the last page starts at row 3.
    past = client.get(f"{location}?offset=10&limit=2&sort=impressions&order=desc")
    assert past.status_code == 200
    assert 'id="report-rows"' not in past.text
    assert "This page is past the end: this report has 3 rows" in text(past.text)
    last = re.search(r'<div[^>]*id="past-end"[^>]*>.*?href="([^"]+)"', past.text, re.S)
    assert last is not None
    href = last.group(1).replace("&amp;", "&")
    assert href == f"{location}?offset=2&limit=2&sort=impressions&order=desc"
    assert "Rows 3–3 of 3" in text(client.get(href).text)


def test_a_crafted_report_post_with_a_value_the_form_never_offers_is_refused(
    client: TestClient, headers: dict[str, str], db: Database, analyst: str
) -> None:
    cid = campaign(client, headers, "campaign_reporting")
    for fields, field, words in (
        ({"dimensions": ["domain", "weather"]}, "dimensions", "not offered: “weather”"),
        ({"devices": ["toaster"]}, "filters", "not offered: “toaster”"),
        ({"traffic_types": ["alien"]}, "filters", "not offered: “alien”"),
        ({"include_classification": "false"}, "include_classification", "Tick the box"),
    ):
        refused = _report(client, analyst, cid, **fields)
        assert refused.status_code == 422, fields
        assert f'<a href="#field-{field}">' in refused.text, fields
        assert words in text(refused.text), fields
        assert f'id="error-{field}"' in refused.text, fields  # the message at the field
    listed = client.get("/app/pixel/reports").text  # none made with the unknown values dropped
    assert "/app/pixel/reports/campaign/" not in listed


def test_internationalised_domains_show_in_unicode_and_filter_in_either_form(
    client: TestClient, headers: dict[str, str], db: Database, settings: Settings, analyst: str
) -> None:
    cid = campaign(client, headers, "campaign_reporting")
    ascii_domain = "xn--bcher-kva.de"  # bücher.de, as Beacon stores it
    with db.transaction() as session:
        increment(
            session,
            {
                RollupKey(cid, D1, ascii_domain, f"https://{ascii_domain}/a", "desktop", "DE"): 40,
                RollupKey(cid, D1, "bbc.com", "https://bbc.com/a", "mobile", "GB"): 5,
            },
        )
    dates = "start_date=2026-01-15&end_date=2026-01-16"
    page = client.get(f"/app/pixel/campaigns/{cid}?{dates}")
    domains = page.text.split('id="by-domain"')[1].split("</table>")[0]
    assert "bücher.de" in domains and "xn--" not in domains
    for typed in ("bücher.de", "Bücher.de", ascii_domain):
        filtered = client.get(
            f"/app/pixel/campaigns/{cid}",
            params={"start_date": "2026-01-15", "end_date": "2026-01-16", "domain": typed},
        )
        assert filtered.status_code == 200, typed
        assert 'id="total-impressions">40<' in filtered.text, typed
    created = _report(client, analyst, cid, dimensions=["domain", "url"])
    assert created.status_code == 303, created.text
    Worker(db=db, kinds=[report_job(settings)]).run_until_idle()
    rows = client.get(created.headers["location"]).text.split('id="report-rows"')[1]
    assert "bücher.de" in rows and "https://bücher.de/a" in rows and "xn--" not in rows
    # The CSV keeps the stored form, for the systems it is loaded into.
    assert ascii_domain in client.get(f"{created.headers['location']}/csv").text


def test_a_long_filter_value_is_shown_quoted_cut(
    client: TestClient, headers: dict[str, str], analyst: str
) -> None:
    # The form's messages come from pydantic, not from an API error: the value is cut where
    # the validator quotes it, so the page does not echo 3,000 characters either.
    cid = campaign(client, headers, "campaign_reporting")
    long = "o'" + "a" * 3000
    page = client.get(f"/app/pixel/campaigns/{cid}", params={"domain": long})
    assert page.status_code == 422
    shown = text(page.text.split('id="error-domain"')[1].split("</p>")[0])  # its message
    assert "a" * 101 not in shown
    assert "&#34;o&#39;" + "a" * 98 + "…&#34; (3002 characters) is not a domain name" in shown


def test_dashboard_errors_read_as_the_api_words_not_pydantics(
    client: TestClient, headers: dict[str, str], analyst: str
) -> None:
    """A refused value's message is the API's ("unknown device 'tv'"), without pydantic's
    "Value error, " prefix, which read "A device: Value error, unknown device 'tv'"."""
    cid = campaign(client, headers, "campaign_reporting")
    device = client.get(f"/app/pixel/campaigns/{cid}?device=tv")
    backwards = client.get(f"/app/pixel/campaigns/{cid}?start_date=2026-02-01&end_date=2026-01-01")
    for page in (device, backwards):
        assert page.status_code == 422
        assert "Value error" not in page.text
    assert "unknown device &#39;tv&#39;" in device.text
    assert "end_date 2026-01-01 is before start_date 2026-02-01" in backwards.text


def test_the_live_hits_give_each_line_its_utc_day_not_today(
    client: TestClient, headers: dict[str, str], db: Database, analyst: str
) -> None:
    """The panel lists yesterday's rollup lines too: their count is yesterday's, and the line
    says so (under "Hits today" it read as today's, which the dashboard shows as 0)."""
    cid = campaign(client, headers, "campaign_reporting")
    yesterday = utcnow().date() - dt.timedelta(days=1)
    with db.transaction() as session:
        increment(
            session,
            {RollupKey(cid, yesterday, "example.com", "https://example.com/y", "mobile", "FR"): 4},
        )
    hits = client.get(f"/app/pixel/campaigns/{cid}/hits", headers={"HX-Request": "true"})
    assert hits.status_code == 200
    body = text(hits.text)
    assert "Hits today" not in body
    assert f"{yesterday:%d %b %Y} 4" in body


def test_a_filtered_report_says_what_it_was_filtered_by(
    client: TestClient, headers: dict[str, str], db: Database, analyst: str
) -> None:
    """A report made with filters showed smaller numbers than the dashboard and nothing said
    why: its page now names the filters (domains in Unicode, as everywhere in the console)."""
    cid = campaign(client, headers, "campaign_reporting")
    add_hits(db, cid)
    made = client.post(
        "/app/pixel/reports",
        data={"csrf_token": analyst, "campaign_id": str(cid), "start_date": "2026-01-15",
              "end_date": "2026-01-16", "dimensions": ["domain"], "geo": "US",
              "devices": ["desktop"], "domains": "nytimes.com, xn--bcher-kva.de"},
    )  # fmt: skip
    assert made.status_code == 200, made.text  # the report's page, after the redirect
    shown = re.search(r'<p class="hint" id="report-filters">(.*?)</p>', made.text, re.S)
    assert shown is not None
    assert text(shown.group(1)) == (
        "Filters: Domains: nytimes.com, bücher.de · Countries: US · Devices: desktop. "
        "The numbers below count only what matches them."
    )
    unfiltered = client.post(
        "/app/pixel/reports",
        data={"csrf_token": analyst, "campaign_id": str(cid), "start_date": "2026-01-15",
              "end_date": "2026-01-16"},
    )  # fmt: skip
    assert unfiltered.status_code == 200
    assert 'id="report-status"' in unfiltered.text
    assert 'id="report-filters"' not in unfiltered.text


def _dashboard_bots(client: TestClient, cid: int, query: str) -> tuple[str, list[tuple[str, str]]]:
    """The dashboard's "Bot loads" and its agents table (agent, loads) for ``query``."""
    page = client.get(
        f"/app/pixel/campaigns/{cid}?start_date=2026-01-01&end_date=2026-01-31&{query}"
    )
    assert page.status_code == 200, page.text[-500:]
    total = re.search(r'id="total-bot">([^<]*)<', page.text)
    assert total is not None
    agents = re.findall(
        r"<tr><td>([^<]*)(?:<span[^>]*>[^<]*</span>)?</td><td>(?:Bot|AI agent)</td>"
        r'<td>[^<]*</td><td class="num">([^<]*)<',
        page.text,
    )
    return total.group(1), agents


def test_the_dashboard_filtered_by_country_and_device_counts_their_bots(
    client: TestClient, app: FastAPI, db: Database, headers: dict[str, str], analyst: str
) -> None:
    # Reported: filtered by a country AND a device, the dashboard showed 0 bots that hits of
    # that country and device had. Real hits (server-side events through the collector's
    # enrichment: the device from the User-Agent, the country given) on days read from the
    # stats cache, then partly and wholly from the folded summaries: bots keep both.
    cid = campaign(client, headers, "publisher_bot_detection")
    draws = (("chrome", "US", 3), ("googlebot", "US", 2), ("iphone", "US", 1))
    draws += (("gptbot", "FR", 1), ("googlebot", "FR", 1))
    events = [
        {
            "timestamp": f"2026-01-{day}T10:00:00Z",
            "url": "https://www.nytimes.com/a",
            "user_agent": UA[agent],
            "country": country,
        }
        for day in (10, 11, 12, 20)
        for agent, country, n in draws
        for _ in range(n)
    ]
    sent = client.post(
        "/v1/pixel/events", json={"campaign_id": cid, "events": events}, headers=headers
    )
    assert sent.status_code == 202 and sent.json()["accepted"] == len(events)
    assert app.state.pixel.flush().counted == len(events)

    for folded_before in (None, dt.date(2026, 1, 12), dt.date(2027, 1, 1)):
        if folded_before:
            folds.fold_campaign(transaction=db.transaction, campaign_id=cid, before=folded_before)
        assert _dashboard_bots(client, cid, "country=US&device=desktop") == (
            "8",
            [("Googlebot", "8")],
        )
        assert _dashboard_bots(client, cid, "country=fr&device=desktop") == (
            "4",
            [("GPTBot", "4"), ("Googlebot", "4")],
        )
        # Crawlers say they are desktop browsers: no bot is a mobile load, and 0 is right.
        assert _dashboard_bots(client, cid, "country=US&device=mobile") == ("0", [])
