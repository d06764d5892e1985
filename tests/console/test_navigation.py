"""The left navigation: every link's accessible name is unique, so "Campaigns" of Measure
(pixel) and of Orchestrate (messaging) can be told apart by eye and by a screen reader."""

from __future__ import annotations

from collections import Counter

import pytest
from playwright.sync_api import Page, expect
from tests.console.conftest import Console, sign_in

pytestmark = pytest.mark.e2e


def test_navigation_links_have_unique_names_and_lead_to_their_family(
    page: Page, console: Console
) -> None:
    sign_in(page, console.email("owner"), console.password("owner"))
    nav = page.get_by_role("navigation", name="Main")
    names = [name.strip() for name in nav.get_by_role("link").all_inner_texts()]
    repeated = [name for name, count in Counter(names).items() if count > 1]
    assert not repeated, f"ambiguous navigation links: {repeated}"
    expect(nav.get_by_role("link", name="Campaigns", exact=True)).to_have_count(0)

    nav.get_by_role("link", name="Pixel campaigns").click()
    expect(page).to_have_url(console.url("/app/pixel/campaigns"))
    expect(nav.get_by_role("link", name="Pixel campaigns")).to_have_attribute(
        "aria-current", "page"
    )

    nav.get_by_role("link", name="Messaging campaigns").click()
    expect(page).to_have_url(console.url("/app/orchestrate/campaigns"))
    expect(nav.get_by_role("link", name="Messaging campaigns")).to_have_attribute(
        "aria-current", "page"
    )
    expect(nav.get_by_role("link", name="Pixel campaigns")).not_to_have_attribute(
        "aria-current", "page"
    )


def test_a_page_loads_without_a_failed_request_or_a_console_error(
    page: Page, console: Console
) -> None:
    # Every page asked for /favicon.ico, which answered 404: a console error on each page.
    failed: list[tuple[int, str]] = []
    errors: list[str] = []
    page.on("response", lambda r: failed.append((r.status, r.url)) if r.status >= 400 else None)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, console.email("owner"), console.password("owner"))
    page.goto(console.url("/app/pixel/campaigns"))
    page.wait_for_load_state("networkidle")
    assert (failed, errors) == ([], [])
