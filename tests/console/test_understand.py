"""Understand in Chromium: classify a text and a page of a local web site (and one that cannot
be read), upload inventory from that site, watch it classify, filter it and re-classify a URL;
what a viewer may not do."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from tests.console.conftest import Console, assert_accessible, csrf_token_of, shoot, sign_in
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
    expect(page.locator("#result-source")).to_have_text("Classified now")
    expect(page.locator("#result-title-text")).to_have_text("Derby day")
    expect(result.locator("meter").first).to_be_visible()
    expect(page.locator("#keywords li").first).to_be_visible()
    shoot(page, "understand-classify")
    assert_accessible(page)

    page.get_by_label("Page URL").fill(site.url("/football.html"))
    page.get_by_role("button", name="Classify page").click()
    expect(page.locator("#result-source")).to_have_text("Classified now")
    expect(page.locator("#result")).to_contain_text("Sports")
    page.get_by_label("Page URL").fill(site.url("/football.html"))
    page.get_by_role("button", name="Classify page").click()
    expect(page.locator("#result-source")).to_have_text("From the store (cached)")

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
