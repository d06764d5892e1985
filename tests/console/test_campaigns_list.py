"""The campaigns list: today's and the last 30 days' human impressions of each campaign, read
from the pixel rollups that the collector's hits end up in."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from playwright.sync_api import Page, expect
from tests.console.conftest import Console, assert_accessible, assert_fits_phone, shoot, sign_in
from tests.support import wait_for

from beacon.core.db import Database
from beacon.core.timefmt import utcnow
from beacon.pixel.models import PixelSiteDay

pytestmark = pytest.mark.e2e

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def _create(console: Console, name: str) -> int:
    with console.api() as api:
        response = api.post("/v1/pixel/campaigns", json={"name": name, "use_case": "other"})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _fire(console: Console, campaign_id: int, count: int, user_agent: str) -> None:
    with httpx.Client(base_url=console.base_url, headers={"User-Agent": user_agent}) as http:
        for i in range(count):
            response = http.get(
                f"/px/{campaign_id}.gif", params={"url": f"https://news.example.com/a/{i}"}
            )
            assert response.status_code == 200


def _past_loads(console: Console, campaign_id: int, days_ago: int, human: int, bot: int) -> None:
    """Rollup rows of an earlier day, as a flush on that day would have left them."""
    db = Database(console.database_url)
    try:
        with db.transaction() as session:
            session.add(
                PixelSiteDay(
                    campaign_id=campaign_id,
                    dims_hash=f"past-{days_ago}",
                    domain="news.example.com",
                    date=utcnow().date() - dt.timedelta(days=days_ago),
                    human=human,
                    bot=bot,
                    ai_agent=0,
                )
            )
    finally:
        db.dispose()


def _cells(html: str, name: str) -> tuple[str, str]:
    row = re.search(rf">{re.escape(name)}</a>.*?</tr>", html, re.S)
    assert row, f"no row for {name}"
    numbers = re.findall(r'<td class="num">([^<]*)</td>', row.group(0))
    return numbers[0], numbers[1]


def test_list_shows_today_and_30_day_impressions(page: Page, console: Console) -> None:
    busy = _create(console, "Spring sale")
    _create(console, "Quiet one")
    _fire(console, busy, 5, CHROME)
    _fire(console, busy, 2, GOOGLEBOT)  # bots are not impressions
    _past_loads(console, busy, days_ago=10, human=1200, bot=30)
    _past_loads(console, busy, days_ago=29, human=100, bot=0)  # the 30th day, included
    _past_loads(console, busy, days_ago=30, human=7000, bot=0)  # before the window

    with console.http() as http:
        console.http_sign_in(http, "viewer")
        wait_for(
            lambda: _cells(http.get("/app/pixel/campaigns").text, "Spring sale")[0] == "5",
            "today's hits to be flushed into the rollups",
        )

    sign_in(page, console.email("viewer"), console.password("viewer"))
    busy_row = page.get_by_role("row").filter(has_text="Spring sale")
    expect(busy_row.locator("td.num").nth(0)).to_have_text("5")
    expect(busy_row.locator("td.num").nth(1)).to_have_text("1,305")
    quiet_row = page.get_by_role("row").filter(has_text="Quiet one")
    expect(quiet_row.locator("td.num").nth(0)).to_have_text("0")
    expect(quiet_row.locator("td.num").nth(1)).to_have_text("0")
    shoot(page, "campaigns-list")
    assert_fits_phone(page)
    assert_accessible(page)


def test_empty_list_tells_an_admin_what_to_do(page: Page, console: Console) -> None:
    sign_in(page, console.email("other"), console.password("other"))
    page.goto("/app/pixel/campaigns")
    expect(page.get_by_role("heading", name="Create your first campaign")).to_be_visible()
    page.get_by_role("main").get_by_role("link", name="New campaign").first.click()
    expect(page.get_by_role("heading", name="New campaign")).to_be_visible()
    shoot(page, "campaigns-empty")
    assert_accessible(page)
