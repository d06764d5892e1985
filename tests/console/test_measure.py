"""Measure in Chromium: create a campaign, copy its pixel code, fire hits at the collector and
watch them arrive in the live tag test and on the dashboard; the publisher view; run a report,
watch it complete without a reload and download the same rows as the API as CSV; what a viewer
and another account may not do."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from tests.console.conftest import Console, assert_accessible, csrf_token_of, shoot, sign_in

pytestmark = pytest.mark.e2e

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
GPTBOT = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def fire(console: Console, campaign_id: int, hits: list[tuple[str, str, str]]) -> None:
    """GET the campaign's pixel once per (User-Agent, page URL, declared site), as a browser
    loading a creative would."""
    with httpx.Client(base_url=console.base_url, timeout=10) as client:
        for n, (agent, url, site) in enumerate(hits):
            response = client.get(
                f"/px/{campaign_id}.gif",
                params={"url": url, "site": site, "cb": str(n)},
                headers={"User-Agent": agent, "Referer": url},
            )
            assert response.status_code == 200, response.text


def wait_for_loads(console: Console, campaign_id: int, loads: int) -> dict[str, Any]:
    """The stats API once the flusher has counted ``loads`` loads (it runs every second)."""
    deadline = time.monotonic() + 30
    with console.api() as api:
        while True:
            stats: dict[str, Any] = api.get(f"/v1/pixel/campaigns/{campaign_id}/stats").json()
            if stats["totals"]["loads"] >= loads or time.monotonic() > deadline:
                assert stats["totals"]["loads"] == loads, stats["totals"]
                return stats
            time.sleep(0.2)


def new_campaign(console: Console, name: str, use_case: str) -> int:
    with console.api() as api:
        response = api.post("/v1/pixel/campaigns", json={"name": name, "use_case": use_case})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


# 12 human loads: 9 on nytimes.com (6 desktop, 3 phone) and 3 that declared nytimes.com in the
# site macro but loaded on cheap-news.biz (misrepresented inventory).
HUMAN_HITS = [
    *[(CHROME, f"https://www.nytimes.com/article/{n % 3}", "nytimes.com") for n in range(6)],
    *[(IPHONE, f"https://www.nytimes.com/article/{n % 3}", "nytimes.com") for n in range(3)],
    *[(CHROME, "https://cheap-news.biz/top-10", "nytimes.com") for _ in range(3)],
]


@pytest.fixture(scope="module")
def measured(console: Console) -> Iterator[int]:
    """A campaign of the account with the human hits above counted."""
    campaign_id = new_campaign(console, "Spring EV launch", "campaign_reporting")
    fire(console, campaign_id, HUMAN_HITS)
    wait_for_loads(console, campaign_id, len(HUMAN_HITS))
    yield campaign_id


def test_create_a_campaign_copy_its_code_and_watch_hits_arrive(
    page: Page, console: Console
) -> None:
    sign_in(page, console.email("admin"), console.password("admin"))
    page.goto("/app/pixel/campaigns/new")
    page.get_by_label("Campaign name").fill("Autumn sale")
    page.get_by_label("Campaign reporting").check()
    page.get_by_role("button", name="Create campaign").click()

    expect(page.get_by_role("heading", name="Pixel code")).to_be_visible()
    expect(page.get_by_role("status").first).to_contain_text("Campaign created")
    campaign_id = int(re.findall(r"/campaigns/(\d+)/code", page.url)[0])
    page.get_by_label("DSP", exact=True).fill("The Trade Desk")
    page.get_by_role("button", name="Show code").click()
    expect(page.get_by_role("heading", name="Tags with The Trade Desk macros")).to_be_visible()
    image_tag = page.locator("#tag-img").inner_text()
    assert f"/px/{campaign_id}.gif?site=%%TTD_SITE%%" in image_tag
    page.get_by_role("button", name="Copy").first.click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == image_tag
    expect(page.locator("#recent-hits")).to_contain_text("Waiting for the first hit")
    assert_accessible(page)

    fire(console, campaign_id, HUMAN_HITS[:4])
    # The panel polls; no reload: the hits show up by themselves.
    live = page.locator("#recent-hits")
    expect(live).to_contain_text("https://www.nytimes.com/article/0", timeout=20_000)
    expect(live).to_contain_text("site=nytimes.com")
    expect(live.locator("tbody tr")).to_have_count(3)  # three pages, grouped as counted
    shoot(page, "measure-pixel-code")

    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("#total-impressions")).to_have_text("4")
    expect(page.locator("#impressions-chart canvas")).to_be_visible()  # uPlot drew the series
    expect(page.locator("#by-domain")).to_contain_text("nytimes.com")
    expect(page.locator("#by-device")).to_contain_text("desktop")


def test_dashboard_numbers_filters_in_the_url_and_misrepresented_inventory(
    page: Page, console: Console, measured: int
) -> None:
    sign_in(page, console.email("viewer"), console.password("viewer"))
    page.goto(f"/app/pixel/campaigns/{measured}")
    expect(page.locator("#total-impressions")).to_have_text("12")
    expect(page.locator("#total-misrepresented")).to_have_text("3")
    misrepresented = page.locator("#misrepresented")
    expect(misrepresented).to_contain_text("cheap-news.biz")
    expect(misrepresented).to_contain_text("25.0% of impressions")
    expect(page.locator("#by-url")).to_contain_text("https://cheap-news.biz/top-10")
    expect(page.get_by_text("Hourly series are not available", exact=False)).to_be_visible()
    expect(page.locator("#impressions-chart canvas")).to_be_visible()
    shoot(page, "measure-dashboard")
    assert_accessible(page)

    page.get_by_label("Device", exact=True).select_option("mobile")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"device=mobile"))
    expect(page.locator("#total-impressions")).to_have_text("3")
    # A domain in the table narrows further and keeps the device filter.
    page.locator("#by-domain").get_by_role("link", name="nytimes.com").click()
    expect(page).to_have_url(
        re.compile(r"device=mobile.*domain=nytimes.com|domain=nytimes.com.*device=mobile")
    )
    expect(page.get_by_label("Domain", exact=True)).to_have_value("nytimes.com")
    assert_accessible(page)


def test_publisher_view_names_bots_ai_agents_and_operators(page: Page, console: Console) -> None:
    campaign_id = new_campaign(console, "News site traffic", "publisher_bot_detection")
    hits = [
        *[(CHROME, f"https://www.example-news.com/story/{n}", "") for n in range(5)],
        *[(GPTBOT, "https://www.example-news.com/story/1", "") for _ in range(3)],
        *[(GOOGLEBOT, "https://www.example-news.com/story/2", "") for _ in range(2)],
    ]
    fire(console, campaign_id, hits)
    wait_for_loads(console, campaign_id, len(hits))
    sign_in(page, console.email("viewer"), console.password("viewer"))
    page.goto(f"/app/pixel/campaigns/{campaign_id}")

    expect(page.locator("#total-loads")).to_have_text("10")
    expect(page.locator("#total-ai")).to_have_text("3")
    agents = page.locator("#by-agent")
    expect(agents.get_by_role("row", name=re.compile("GPTBot"))).to_contain_text("OpenAI")
    expect(agents).to_contain_text("Googlebot")
    expect(page.locator("#by-operator")).to_contain_text("OpenAI")
    shoot(page, "measure-publisher")
    assert_accessible(page)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def test_run_a_report_watch_it_complete_and_download_the_api_rows(
    page: Page, console: Console, measured: int
) -> None:
    sign_in(page, console.email("analyst"), console.password("analyst"))
    page.goto("/app/pixel/reports")
    page.get_by_role("link", name="New report").click()
    assert_accessible(page)
    page.get_by_label("Campaign", exact=True).select_option(str(measured))
    page.get_by_label("URL", exact=True).check()
    page.get_by_label("Device", exact=True).check()
    page.evaluate("window.stillTheSamePage = true")
    page.get_by_role("button", name="Create report").click()

    expect(page.get_by_role("heading", name=re.compile(r"Campaign report \d+"))).to_be_visible()
    report_id = int(page.url.rsplit("/", 1)[1])
    page.evaluate("window.stillTheSamePage = true")
    expect(page.locator("#report-status")).to_have_text("Complete", timeout=30_000)
    assert page.evaluate("window.stillTheSamePage === true")  # htmx swapped it in, no reload
    rows = page.locator("#report-rows tbody tr")
    with console.api() as api:
        body = api.get(f"/v1/pixel/reports/campaign/{report_id}").json()
    expect(rows).to_have_count(len(body["data"]))
    shoot(page, "measure-report")
    assert_accessible(page)

    page.get_by_role("link", name=re.compile("^Impressions")).click()
    expect(page).to_have_url(re.compile("sort=impressions&order=desc"))
    first = page.locator('#report-rows tbody tr:first-child td[data-column="impressions"]')
    expect(first).to_have_text(str(max(row["impressions"] for row in body["data"])))

    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Download CSV")).click()
    content = download.value.path().read_text(encoding="utf-8")
    table = list(csv.reader(io.StringIO(content)))
    header, lines = table[0], table[1:]
    assert header[:4] == ["date", "domain", "url", "device"]
    assert lines == [[_csv_cell(row.get(key)) for key in header] for row in body["data"]]
    assert len(lines) == body["pagination"]["total"] > 0

    page.goto("/app/pixel/reports")
    expect(page.locator("#report-list")).to_contain_text(f"Campaign report {report_id}")
    shoot(page, "measure-reports")
    assert_accessible(page)


def test_a_viewer_reads_reports_but_cannot_create_one(
    page: Page, console: Console, measured: int
) -> None:
    sign_in(page, console.email("viewer"), console.password("viewer"))
    page.goto("/app/pixel/reports")
    expect(page.get_by_role("heading", name="Reports", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="New report")).to_have_count(0)
    assert_accessible(page)

    with console.http() as client:
        csrf = console.http_sign_in(client, "viewer")
        refused = client.post(
            "/app/pixel/reports",
            data={
                "csrf_token": csrf,
                "campaign_id": str(measured),
                "start_date": "2026-01-01",
                "end_date": "2026-01-31",
            },
        )
        assert refused.status_code == 403
        assert "cannot run reports" in refused.text
        assert client.get("/app/pixel/reports/new").status_code == 403


def test_another_accounts_campaign_is_not_found(
    page: Page, console: Console, measured: int
) -> None:
    sign_in(page, console.email("other"), console.password("other"))
    for path in (
        f"/app/pixel/campaigns/{measured}",
        f"/app/pixel/campaigns/{measured}/code",
    ):
        response = page.goto(path)
        assert response is not None and response.status == 404
        expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    assert_accessible(page)
    with console.http() as client:
        console.http_sign_in(client, "other")
        assert client.get(f"/app/pixel/campaigns/{measured}/hits").status_code == 404
        assert csrf_token_of(client.get("/app/pixel/reports").text)
