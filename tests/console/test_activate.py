"""Activate in Chromium: build a segment from inventory a local web site serves (its live count
before saving equals the built one), activate it on a DSP and copy the deal id, upload
deliveries with one bad row, read the segment report; what a viewer may not do."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from tests.console.conftest import Console, assert_accessible, shoot, sign_in, start_console
from tests.contextual.site.server import LocalSite

pytestmark = pytest.mark.e2e

PAGES = ("/football.html", "/pasta.html", "/gadgets.html", "/earthquake.html")


@pytest.fixture(scope="module")
def site() -> Iterator[LocalSite]:
    with LocalSite() as running:
        yield running


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The console allowed to fetch the local site (127.0.0.1)."""
    running = start_console(
        tmp_path_factory.mktemp("activate"),
        env={"BEACON_FETCH_ALLOW_PRIVATE_NETWORKS": "true", "BEACON_FETCH_RESPECT_ROBOTS": "false"},
    )
    try:
        yield running
    finally:
        running.server.stop()


def wait_for(console: Console, path: str, done: Any, timeout: float = 60) -> dict[str, Any]:
    """GET ``path`` from the API until ``done(body)`` holds."""
    deadline = time.monotonic() + timeout
    with console.api() as api:
        while True:
            body: dict[str, Any] = api.get(path).json()
            if done(body) or time.monotonic() > deadline:
                assert done(body), body
                return body
            time.sleep(0.3)


@pytest.fixture(scope="module")
def inventory(console: Console, site: LocalSite) -> list[str]:
    """The local site's pages in the inventory, all classified."""
    urls = [site.url(p) for p in PAGES]
    with console.api() as api:
        added = api.post("/v1/clsfy/inventory", json={"urls": urls})
    assert added.status_code == 200, added.text
    wait_for(
        console,
        "/v1/clsfy/inventory",
        lambda body: all(item["status"] == "ok" for item in body["data"]),
    )
    return urls


@pytest.fixture(scope="module")
def segment(console: Console, inventory: list[str]) -> int:
    """A complete segment of the sports pages (made through the API)."""
    with console.api() as api:
        made = api.post(
            "/v1/clsfy/segments",
            json={"name": "Sports fans", "rules": {"iab_categories": ["IAB17"]}},
        )
    assert made.status_code == 201, made.text
    segment_id = int(made.json()["id"])
    wait_for(console, f"/v1/clsfy/segments/{segment_id}", lambda s: s["status"] == "complete")
    return segment_id


def test_activate_a_segment_and_copy_the_deal_id(
    page: Page, console: Console, segment: int
) -> None:
    sign_in(page, console.email("admin"), console.password("admin"))
    page.goto("/app/activate/activations")
    assert_accessible(page)
    page.get_by_role("link", name="New activation").first.click()
    page.get_by_label("Sports fans").check()
    page.get_by_label("DSP", exact=True).fill("The Trade Dsk")
    page.get_by_label("Buyer seat").fill("seat-42")
    page.get_by_label("Countries (optional)").fill("US, UK")
    page.get_by_label("KPI 1 metric").select_option("ctr")
    page.get_by_label("KPI 1 target").fill("5")
    page.get_by_role("button", name="Activate").click()
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("The Trade Desk")  # the closest names are suggested
    assert_accessible(page)

    page.get_by_label("DSP", exact=True).fill("The Trade Desk")
    page.get_by_role("button", name="Activate").click()
    expect(page.locator(".error-summary")).to_contain_text("GB")  # UK is GB

    page.get_by_label("Countries (optional)").fill("US, GB")
    page.get_by_role("button", name="Activate").click()
    expect(page.locator(".error-summary")).to_contain_text("ctr is a rate")

    page.get_by_label("KPI 1 target").fill("0.02")
    page.get_by_label("Amount").fill("50000")
    page.get_by_label("video").check()
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("heading", name="Activation", exact=False).first).to_be_visible()
    # htmx polls until the deal id is issued; no reload.
    expect(page.locator("#activation-state")).to_have_text("complete", timeout=30_000)
    deal_id = page.locator("#deal-id").inner_text().strip()
    assert deal_id
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()").strip() == deal_id
    expect(page.locator("#deal-expires time")).to_be_visible()
    shoot(page, "activate-activation")
    assert_accessible(page)
    activation_id = int(page.url.rsplit("/", 1)[1])
    with console.api() as api:
        body = api.get(f"/v1/clsfy/activations/{activation_id}").json()
    assert body["deal_id"] == deal_id
    assert body["geo"] == ["US", "GB"]
    assert body["budget"] == {"amount": 50000, "currency": "USD"}

    page.goto("/app/activate/activations")
    expect(page.get_by_text(deal_id)).to_be_visible()


def test_a_viewer_cannot_activate_and_another_account_gets_404(
    console: Console, segment: int
) -> None:
    with console.http() as client:
        token = console.http_sign_in(client, "viewer")
        listing = client.get("/app/activate/activations")
        assert listing.status_code == 200
        assert "New activation" not in listing.text
        assert client.get("/app/activate/activations/new").status_code == 403
        refused = client.post(
            "/app/activate/activations",
            data={
                "segment_ids": str(segment),
                "dsp": "The Trade Desk",
                "buyer_seat": "s",
                "csrf_token": token,
            },
        )
        assert refused.status_code == 403
    with console.api() as api:
        made = api.post(
            "/v1/clsfy/activations",
            json={"segment_ids": [segment], "dsp": "Amazon DSP", "buyer_seat": "x"},
        )
    assert made.status_code in (200, 201), made.text
    with console.http() as client:
        console.http_sign_in(client, "other")
        foreign = client.get(f"/app/activate/activations/{made.json()['id']}")
        assert foreign.status_code == 404
        assert "Page not found" in foreign.text


def test_build_a_segment_whose_live_count_matches_the_built_one(
    page: Page, console: Console, inventory: list[str]
) -> None:
    sign_in(page, console.email("analyst"), console.password("analyst"))
    page.goto("/app/activate/segments")
    assert_accessible(page)
    page.get_by_role("link", name="New segment").first.click()
    page.get_by_label("Segment name").fill("Food and sport")
    page.get_by_placeholder("Search categories").fill("sports")
    expect(page.get_by_label("Food & Drink", exact=False).first).to_be_hidden()
    page.get_by_label("Sports IAB17", exact=True).check()
    preview = page.locator("#segment-preview")
    expect(page.locator("#preview-count")).to_have_text("1")
    expect(preview).to_contain_text("/football.html")
    page.get_by_placeholder("Search categories").fill("food")
    page.get_by_label("Food & Drink IAB8", exact=True).check()
    expect(page.locator("#preview-count")).to_have_text("2")
    expect(preview).to_contain_text("/pasta.html")
    page.get_by_label("Exclude keywords").fill("pasta, spaghetti")
    expect(page.locator("#preview-count")).to_have_text("1")
    page.get_by_label("Exclude keywords").fill("")
    expect(page.locator("#preview-count")).to_have_text("2")
    shoot(page, "activate-segment-builder")
    assert_accessible(page)
    live = page.locator("#preview-count").inner_text()

    page.get_by_role("button", name="Save and build").click()
    expect(page.locator("#segment-state")).to_have_text("complete", timeout=30_000)
    expect(page.locator("#segment-url-count")).to_have_text(live)
    members = page.locator("#segment-members")
    expect(members).to_contain_text("/football.html")
    expect(members).to_contain_text("/pasta.html")
    shoot(page, "activate-segment")
    assert_accessible(page)


def test_a_viewer_cannot_build_segments(console: Console, segment: int) -> None:
    with console.http() as client:
        token = console.http_sign_in(client, "viewer")
        listing = client.get("/app/activate/segments")
        assert listing.status_code == 200
        assert "New segment" not in listing.text
        assert client.get("/app/activate/segments/new").status_code == 403
        refused = client.post(
            "/app/activate/segments",
            data={"name": "x", "iab_categories": "IAB17", "csrf_token": token},
        )
        assert refused.status_code == 403
    with console.http() as client:
        console.http_sign_in(client, "other")
        foreign = client.get(f"/app/activate/segments/{segment}")
        assert foreign.status_code == 404
        assert "Page not found" in foreign.text


@pytest.fixture(scope="module")
def deal(console: Console, segment: int) -> str:
    """An issued deal id of the sports segment (made through the API)."""
    with console.api() as api:
        made = api.post(
            "/v1/clsfy/activations",
            json={"segment_ids": [segment], "dsp": "The Trade Desk", "buyer_seat": "seat-7"},
        )
    assert made.status_code in (200, 201), made.text
    done = wait_for(
        console, f"/v1/clsfy/activations/{made.json()['id']}", lambda a: a["status"] == "complete"
    )
    return str(done["deal_id"])


def delivery_csv(deal_id: str, *, bad: bool) -> str:
    header = "date,deal_id,device,format,domain,geo,impressions,clicks,spend"
    rows = [
        f"2026-11-0{day},{deal_id},{device},banner,espn.com,US,{1000 * day},{10 * day},{2.5 * day}"
        for day in (1, 2, 3)
        for device in ("desktop", "mobile")
    ]
    if bad:
        rows[3] = f"2026-11-02,{deal_id},smartwatch,banner,espn.com,US,100,1,0.5"
    return "\n".join([header, *rows]) + "\n"


def test_upload_deliveries_see_the_bad_row_then_store(
    page: Page, console: Console, deal: str, tmp_path: Any
) -> None:
    sign_in(page, console.email("analyst"), console.password("analyst"))
    page.goto("/app/activate/deliveries")
    assert_accessible(page)
    bad_file = tmp_path / "bad.csv"
    bad_file.write_text(delivery_csv(deal, bad=True))
    page.get_by_label("Delivery CSV").set_input_files(str(bad_file))
    page.get_by_role("button", name="Check the file").click()
    problems = page.locator("#delivery-problems")
    expect(problems).to_contain_text("1 row with problems")
    expect(problems).to_contain_text("Line 5: 'device'")
    expect(page.locator("#delivery-preview tr.row-error")).to_have_count(1)
    expect(page.get_by_role("button", name="Store", exact=False)).to_have_count(0)
    shoot(page, "activate-deliveries-check")
    assert_accessible(page)

    good_file = tmp_path / "good.csv"
    good_file.write_text(delivery_csv(deal, bad=False))
    page.get_by_label("Delivery CSV").set_input_files(str(good_file))
    page.get_by_label("Batch id (optional)").fill("nov-week-1")
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_text("Every row is valid.")).to_be_visible()
    page.get_by_role("button", name="Store 6 rows").click()
    expect(page.get_by_role("status").first).to_contain_text("Batch nov-week-1 stored: 6 rows")
    expect(page.get_by_role("status").first).to_contain_text("12,000 impressions")


def test_a_viewer_cannot_upload_deliveries(console: Console, deal: str) -> None:
    with console.http() as client:
        token = console.http_sign_in(client, "viewer")
        page = client.get("/app/activate/deliveries")
        assert page.status_code == 200
        assert "Check the file" not in page.text
        refused = client.post(
            "/app/activate/deliveries",
            data={"csv_text": delivery_csv(deal, bad=False), "csrf_token": token},
        )
        assert refused.status_code == 403


@pytest.fixture(scope="module")
def delivered(console: Console, deal: str) -> str:
    """The good delivery batch stored through the API (12,000 impressions over 3 days)."""
    with console.api() as api:
        stored = api.post(
            "/v1/clsfy/deliveries?batch_id=nov-week-1",
            content=delivery_csv(deal, bad=False),
            headers={"content-type": "text/csv"},
        )
    assert stored.status_code in (200, 201), stored.text
    return deal


def test_segment_report_chart_breakdowns_and_csv(
    page: Page, console: Console, segment: int, delivered: str
) -> None:
    sign_in(page, console.email("analyst"), console.password("analyst"))
    page.goto(f"/app/activate/reports/new?segment_id={segment}")
    assert_accessible(page)
    page.get_by_label("From").fill("2026-11-01")
    page.get_by_label("To").fill("2026-11-30")
    page.get_by_role("button", name="Run report").click()
    expect(page.locator("#report-state")).to_have_text("complete", timeout=30_000)
    expect(page.locator("#sum-impressions")).to_have_text("12,000")
    expect(page.locator("#sum-clicks")).to_have_text("120")
    expect(page.locator("#sum-spend")).to_have_text("30.00")
    expect(page.locator("#sum-ctr")).to_have_text("1.0%")
    expect(page.locator("#sum-ecpm")).to_have_text("2.50")
    expect(page.locator("#report-chart canvas")).to_be_visible()
    expect(page.locator("#by-date tbody tr")).to_have_count(3)
    expect(page.locator("#by-device tbody tr")).to_have_count(2)
    expect(page.locator("#by-device")).to_contain_text("6,000")
    expect(page.locator("#by-domain")).to_contain_text("espn.com")
    shoot(page, "activate-segment-report")
    assert_accessible(page)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "date,device,format,domain,impressions,clicks,spend,ctr,ecpm"
    assert len(lines) == 7
    assert sum(int(line.split(",")[4]) for line in lines[1:]) == 12_000
    report_path = page.url.removeprefix(console.base_url)

    # The list of past reports: what was asked, when, its state, a link to each.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Segment reports").click()
    expect(page.get_by_role("heading", name="Segment reports", exact=True)).to_be_visible()
    row = page.locator("#report-list tbody tr").first
    expect(row).to_contain_text("2026-11-01 to 2026-11-30")
    expect(row).to_contain_text("complete")
    expect(row).to_contain_text("12,000")
    expect(row.locator("time")).to_be_visible()
    shoot(page, "activate-segment-reports")
    assert_accessible(page)
    row.get_by_role("link").click()
    expect(page).to_have_url(console.url(report_path))
    expect(page.locator("#report-state")).to_have_text("complete")
    # Reachable from the segment's page too.
    page.goto(f"/app/activate/segments/{segment}")
    page.get_by_role("link", name="Past reports").click()
    expect(page.locator("#report-list tbody tr").first).to_contain_text("complete")


def test_a_viewer_reads_reports_but_cannot_run_one(console: Console, segment: int) -> None:
    with console.http() as client:
        token = console.http_sign_in(client, "viewer")
        page = client.get("/app/activate/reports")
        assert page.status_code == 200
        assert "New report" not in page.text
        form = client.get("/app/activate/reports/new")
        assert form.status_code == 200
        assert "Run report" not in form.text
        refused = client.post(
            "/app/activate/reports",
            data={
                "segment_ids": str(segment),
                "start_date": "2026-11-01",
                "end_date": "2026-11-30",
                "csrf_token": token,
            },
        )
        assert refused.status_code == 403


def test_bad_input_is_a_form_error_never_a_500(console: Console, segment: int) -> None:
    posts = [
        (
            "/app/activate/segments",
            {"name": " ", "min_confidence": "high", "iab_categories": "IAB999"},
        ),
        ("/app/activate/segments/preview", {"min_confidence": "2", "exclude_sentiment": "angry"}),
        ("/app/activate/segments/preview", {"brand_safety_max_risk": "severe"}),
        (
            "/app/activate/activations",
            {
                "segment_ids": ["x", str(segment)],
                "dsp": "",
                "buyer_seat": "s",
                "start_date": "2026-13-45",
                "kpi_metric_0": "ctr",
                "kpi_target_0": "lots",
                "budget_amount": "-5",
                "budget_currency": "usd",
            },
        ),
        (
            "/app/activate/activations",
            {"segment_ids": "99999", "dsp": "Amazon DSP", "buyer_seat": "s"},
        ),
        ("/app/activate/reports", {"start_date": "yesterday", "end_date": ""}),
        ("/app/activate/reports", {"start_date": "2026-11-30", "end_date": "2026-11-01"}),
        ("/app/activate/deliveries", {"csv_text": "not,a,delivery\n1,2,3\n"}),
        ("/app/understand/inventory", {"urls": "javascript:alert(1)"}),
        ("/app/understand/classify", {"mode": "url", "url": "http://"}),
    ]
    with console.http() as client:
        token = console.http_sign_in(client, "admin")
        for path, data in posts:
            response = client.post(path, data={**data, "csrf_token": token})
            assert response.status_code == 422, (path, response.status_code, response.text[:300])
            assert "There is a problem" in response.text or "error-message" in response.text
        missing = client.post(
            "/app/understand/inventory/reclassify",
            data={"url": "https://not-ours.example/x", "csrf_token": token},
        )
        assert missing.status_code == 404
        assert client.get("/app/activate/reports/99999").status_code == 404
        assert client.get("/app/activate/segments/abc").status_code in (400, 404, 422)
