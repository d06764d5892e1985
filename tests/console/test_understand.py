"""Understand in Chromium: classify a text and a page of a local web site (and one that cannot
be read), upload inventory from that site, watch it classify, filter it and re-classify a URL;
what a viewer may not do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from tests.console.conftest import Console, assert_accessible, shoot, sign_in
from tests.contextual.site.server import LocalSite

pytestmark = pytest.mark.e2e

FOOTBALL = (
    "Manchester United beat Liverpool 2-1 at Old Trafford on Sunday. The striker scored in the "
    "second half and the goalkeeper saved a penalty as the Premier League title race tightened."
)


@pytest.fixture(scope="module")
def site() -> Iterator[LocalSite]:
    with LocalSite() as running:
        yield running


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The console allowed to fetch the local site (127.0.0.1)."""
    from tests.console.conftest import start_console

    running = start_console(
        tmp_path_factory.mktemp("understand"),
        env={"BEACON_FETCH_ALLOW_PRIVATE_NETWORKS": "true", "BEACON_FETCH_RESPECT_ROBOTS": "false"},
    )
    try:
        yield running
    finally:
        running.server.stop()


def test_classify_a_text_and_a_page(page: Page, console: Console, site: LocalSite) -> None:
    sign_in(page, console.email("analyst"), console.password("analyst"))
    page.goto("/app/understand/classify")
    assert_accessible(page)
    page.get_by_label("Title (optional)").fill("Derby day")
    page.get_by_label("Text", exact=True).fill(FOOTBALL)
    page.get_by_role("button", name="Classify text").click()
    result = page.locator("#result")
    expect(result).to_contain_text("Sports")
    expect(page.locator("#result-source")).to_contain_text("Fresh")
    expect(page.locator("#result-source")).to_contain_text("Classified now")
    expect(page.locator("#result-title-text")).to_have_text("Derby day")
    expect(page.locator("#result-language")).to_have_text("en")  # detected from the text
    expect(result.locator("meter").first).to_be_visible()
    expect(page.locator("#keywords li").first).to_be_visible()
    shoot(page, "understand-classify")
    assert_accessible(page)

    # A URL of this test's own: another test here classifies /football.html, and the store
    # would answer it from the cache.
    football = site.url("/football.html?from=classify-test")
    page.get_by_label("Page URL").fill(football)
    page.get_by_role("button", name="Classify page").click()
    expect(page.locator("#result-source")).to_have_text("Fresh Fetched and classified now")
    expect(page.locator("#result")).to_contain_text("Sports")
    # The title and language extracted from the page (its <title> and <html lang>).
    title = "Late winner sends Liverpool top of the Premier League"
    expect(page.locator("#result-title-text")).to_have_text(title)
    expect(page.locator("#result-language")).to_have_text("en")
    page.get_by_label("Page URL").fill(football)
    page.get_by_role("button", name="Classify page").click()
    expect(page.locator("#result-source")).to_have_text("Cached From the store, classified earlier")
    # Served from the store: the same title and language, kept with the classification.
    expect(page.locator("#result-title-text")).to_have_text(title)
    expect(page.locator("#result-language")).to_have_text("en")
    shoot(page, "understand-classify-page")
    assert_accessible(page)

    page.get_by_label("Page URL").fill(site.url("/missing.html"))
    page.get_by_role("button", name="Classify page").click()
    expect(page.get_by_role("heading", name="This page could not be read")).to_be_visible()
    expect(page.locator("#fetch-error-reason")).to_contain_text("404")
    assert_accessible(page)

    page.get_by_label("Page URL").fill("ftp://example.com/x")
    page.get_by_role("button", name="Classify page").click()
    expect(page.locator(".error-summary")).to_contain_text("http")


def test_a_viewer_sees_no_classify_form_and_is_refused(console: Console) -> None:
    with console.http() as client:
        token = console.http_sign_in(client, "viewer")
        page = client.get("/app/understand/classify")
        assert page.status_code == 200
        assert "Classify text" not in page.text
        refused = client.post(
            "/app/understand/classify",
            data={"mode": "text", "text": FOOTBALL, "csrf_token": token},
        )
        assert refused.status_code == 403
        assert "cannot run classifications" in refused.text


def test_a_text_below_the_confidence_threshold_says_so(console: Console) -> None:
    vague = (
        "We took the kids to the market, then had lunch at a cafe and walked home along the "
        "river before the rain started."
    )
    with console.http() as client:
        token = console.http_sign_in(client, "analyst")
        page = client.post(
            "/app/understand/classify",
            data={"mode": "text", "text": vague, "title": "Sunday notes", "csrf_token": token},
        )
        assert page.status_code == 200
        assert 'id="result-low-confidence"' in page.text
        assert "no category is confident enough" in page.text
        sure = client.post(
            "/app/understand/classify",
            data={"mode": "text", "text": FOOTBALL, "csrf_token": token},
        )
        assert "Sports" in sure.text and "result-low-confidence" not in sure.text
        shell = client.post(
            "/app/understand/classify",
            data={"mode": "text", "text": "Please enable JavaScript", "csrf_token": token},
        )
        assert 'id="result-insufficient-content"' in shell.text
        assert "result-low-confidence" not in shell.text


def test_upload_inventory_watch_it_classify_filter_and_reclassify(
    page: Page, console: Console, site: LocalSite, tmp_path: Path
) -> None:
    sign_in(page, console.email("analyst"), console.password("analyst"))
    page.goto("/app/understand/inventory")
    assert_accessible(page)
    page.get_by_label("Paste URLs").fill(
        "\n".join(site.url(p) for p in ("/football.html", "/pasta.html", "/gone.html"))
    )
    page.get_by_role("button", name="Add to inventory").click()
    expect(page.get_by_role("status").first).to_contain_text("3 URLs received")
    csv_file = tmp_path / "urls.csv"
    csv_file.write_text(f"url\n{site.url('/gadgets.html')}\n{site.url('/earthquake.html')}\n")
    page.get_by_label("Or a CSV file").set_input_files(str(csv_file))
    page.get_by_role("button", name="Add to inventory").click()
    expect(page.get_by_role("status").first).to_contain_text("2 URLs received: 2 new")
    # htmx polls the list until nothing is pending; no reload.
    progress = page.locator("#inventory-progress")
    expect(progress).to_contain_text("5 of 5 processed", timeout=60_000)
    expect(progress).to_contain_text("4 classified, 1 error,")
    table = page.locator("#inventory-table")
    gone = table.locator("tr", has_text="/gone.html")
    expect(gone).to_contain_text("error")
    expect(gone.locator(".error-reason")).to_contain_text("404")
    expect(table.locator("tr", has_text="/football.html")).to_contain_text("Sports")
    shoot(page, "understand-inventory")
    assert_accessible(page)

    page.get_by_label("Status").select_option("error")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#inventory-table tbody tr")).to_have_count(1)
    page.goto("/app/understand/inventory?category=IAB17")
    expect(page.locator("#inventory-table tbody tr")).to_have_count(1)
    expect(page.locator("#inventory-table")).to_contain_text("/football.html")

    page.goto("/app/understand/inventory")
    page.get_by_role("button", name=f"Re-classify {site.url('/pasta.html')}").click()
    expect(page.get_by_role("status").first).to_contain_text("Re-classified")

    page.get_by_label("Paste URLs").fill("not a url\nftp://x.example/")
    page.get_by_role("button", name="Add to inventory").click()
    expect(page.locator(".error-summary")).to_contain_text("line")


def test_a_viewer_sees_the_inventory_but_cannot_change_it(console: Console) -> None:
    with console.http() as client:
        token = console.http_sign_in(client, "viewer")
        listing = client.get("/app/understand/inventory")
        assert listing.status_code == 200
        assert "Add to inventory" not in listing.text
        assert "Re-classify" not in listing.text
        refused = client.post(
            "/app/understand/inventory",
            data={"urls": "https://example.com/a", "csrf_token": token},
        )
        assert refused.status_code == 403
        refused = client.post(
            "/app/understand/inventory/reclassify",
            data={"url": "https://example.com/a", "csrf_token": token},
        )
        assert refused.status_code == 403
