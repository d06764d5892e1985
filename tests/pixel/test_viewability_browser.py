"""The script tag measures viewability in real headless Chromium, and the campaign report
shows exactly what the browser saw.

Each placement is a local page served by a real HTTP server, holding the tag Beacon generates;
the page's own scenario script moves the ad in or out of view at fixed times (so placements
opened one after the other keep their own timing). Headless Chromium reports every page as
visible (background tabs and minimised windows included), so the hidden-tab page switches the
Page Visibility API's state itself the way a browser does when a tab goes to the background:
``document.visibilityState`` reads ``hidden`` and ``visibilitychange`` fires.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support import LiveServer, free_port

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)",
    ),
]
# A desktop browser's User-Agent: HeadlessChrome's own is (rightly) not human traffic.
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
VIEWPORT = {"width": 1280, "height": 800}
OPEN_FOR = 3.0  # seconds every page stays open after the last one loaded

_TALL = "<div style='height:6000px'></div>"
_SCROLL_AWAY = "<script>setTimeout(function(){scrollTo(0,5000)},%d)</script>"
# In view 0.6 s, away 0.3 s, back for 0.6 s, away: 1.2 s in view, never 1 s without a break.
_IN_OUT_IN = (
    "<script>setTimeout(function(){scrollTo(0,5000)},600);"
    "setTimeout(function(){scrollTo(0,0)},900);"
    "setTimeout(function(){scrollTo(0,5000)},1500)</script>"
)
_HIDE_TAB = (
    "<script>setTimeout(function(){"
    "Object.defineProperty(document,'visibilityState',{configurable:true,get:function(){return 'hidden'}});"
    "Object.defineProperty(document,'hidden',{configurable:true,get:function(){return true}});"
    "document.dispatchEvent(new Event('visibilitychange'))},300)</script>"
)
# A playing muted video without a media file: a canvas stream.
_VIDEO = (
    "<video id=v muted autoplay playsinline width=640 height=360></video>"
    "<canvas id=c width=64 height=36 style='display:none'></canvas><script>"
    "var c=document.getElementById('c'),x=c.getContext('2d'),n=0;"
    "setInterval(function(){x.fillStyle=(n++%2)?'#135':'#531';x.fillRect(0,0,64,36)},40);"
    "var v=document.getElementById('v');v.srcObject=c.captureStream(25);v.play();</script>"
)


def _ad(tag: str, *, width: int, height: int, top: int, inner: str = "") -> str:
    style = f"position:absolute;left:0;top:{top}px;width:{width}px;height:{height}px"
    return f"<div style='{style}'>{inner}{tag}</div>"


def _pages(script: str, image: str) -> dict[str, str]:
    """Page path -> HTML: the placements, and what the browser must make of each."""
    below = VIEWPORT["height"] + 2000
    peek = VIEWPORT["height"] - 100  # 100 px of a 250 px high ad in view: 40%
    return {
        "/in-view-1500ms.html": _ad(script, width=300, height=250, top=50) + _SCROLL_AWAY % 1500,
        "/below-the-fold.html": _ad(script, width=300, height=250, top=below),
        "/in-view-500ms.html": _ad(script, width=300, height=250, top=50) + _SCROLL_AWAY % 500,
        "/in-out-in-600ms.html": _ad(script, width=300, height=250, top=50) + _IN_OUT_IN,
        "/hidden-tab.html": _ad(script, width=300, height=250, top=50) + _HIDE_TAB,
        "/video-2500ms.html": _ad(script, width=640, height=360, top=50, inner=_VIDEO)
        + _SCROLL_AWAY % 2500,
        "/video-1500ms.html": _ad(script, width=640, height=360, top=50, inner=_VIDEO)
        + _SCROLL_AWAY % 1500,
        # 970 x 250 = 242,500 px2: 30% in view is enough; a 300 x 250 ad needs 50%.
        "/large-40-percent.html": _ad(script, width=970, height=250, top=peek),
        "/small-40-percent.html": _ad(script, width=300, height=250, top=peek),
        "/image-tag-only.html": _ad(image, width=300, height=250, top=50),
    }


# (measurable, viewable) per page; the image tag alone is counted but unmeasurable.
EXPECTED = {
    "/in-view-1500ms.html": (1, 1),
    "/below-the-fold.html": (1, 0),
    "/in-view-500ms.html": (1, 0),
    "/in-out-in-600ms.html": (1, 0),
    "/hidden-tab.html": (1, 0),
    "/video-2500ms.html": (1, 1),
    "/video-1500ms.html": (1, 0),
    "/large-40-percent.html": (1, 1),
    "/small-40-percent.html": (1, 0),
    # The image's request carries only the Referer, which the browser's default policy cuts to
    # the origin for another site: the report sees the page as "/".
    "/": (0, 0),
}


class _Site(ThreadingHTTPServer):
    pages: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    server: _Site

    def do_GET(self) -> None:
        body = self.server.pages.get(self.path)
        if body is None:
            self.send_error(404)
            return
        encoded = f"<!doctype html><html><body style='margin:0'>{body}{_TALL}</body></html>"
        data = encoded.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def site() -> Iterator[_Site]:
    """A real HTTP server for the publisher pages (pages are set by the test)."""
    server = _Site(("127.0.0.1", free_port()), _Handler)
    server.pages = {}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def beacon(tmp_path: Path) -> Iterator[LiveServer]:
    data_dir = tmp_path / "data"
    server = LiveServer(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'beacon.db'}",
        env={"BEACON_PIXEL_FLUSH_INTERVAL": "0.2", "BEACON_RATE_LIMIT": "100000/minute"},
    ).start()
    try:
        yield server
    finally:
        server.stop()


def test_the_tag_measures_viewability_and_the_report_shows_it(
    site: _Site, beacon: LiveServer
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python")
    assert beacon.first_key
    with httpx.Client(base_url=beacon.base_url, headers={"X-API-Key": beacon.first_key}) as api:
        _measure_and_report(api, site, sync_api.sync_playwright)


def _measure_and_report(api: httpx.Client, site: _Site, sync_playwright: Any) -> None:
    created = api.post(
        "/v1/pixel/campaigns", json={"name": "viewability", "use_case": "campaign_reporting"}
    )
    assert created.status_code == 201, created.text
    campaign_id = int(created.json()["id"])
    code = api.get(f"/v1/pixel/campaigns/{campaign_id}/code").json()
    site.pages = _pages(code["snippets"]["script"], code["snippets"]["img"])
    origin = f"http://127.0.0.1:{site.server_address[1]}"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = browser.new_context(viewport=VIEWPORT, user_agent=BROWSER_UA)  # type: ignore[arg-type]
            for path in site.pages:
                context.new_page().goto(origin + path, wait_until="load")
            time.sleep(OPEN_FOR)
            context.close()
        finally:
            browser.close()

    expected_totals = (sum(m for m, _ in EXPECTED.values()), sum(v for _, v in EXPECTED.values()))
    deadline = time.monotonic() + 30
    while True:  # the flusher counts within a few intervals; reports are computed on request
        report = _report(api, campaign_id)
        totals = (
            report["summary"]["measurable_impressions"],
            report["summary"]["viewable_impressions"],
        )
        if totals == expected_totals and report["summary"]["impressions"] == len(EXPECTED):
            break
        assert time.monotonic() < deadline, f"counts never reached {expected_totals}: {report}"
        time.sleep(0.5)
    assert report["summary"]["viewability_rate"] == round(
        expected_totals[1] / expected_totals[0], 6
    )
    by_page = {
        row["url"].removeprefix(origin): (
            row["measurable_impressions"],
            row["viewable_impressions"],
        )
        for row in report["data"]
    }
    assert by_page == EXPECTED
    assert all(row["impressions"] == 1 for row in report["data"])


def _report(api: httpx.Client, campaign_id: int) -> dict[str, Any]:
    today = time.strftime("%Y-%m-%d", time.gmtime())
    created = api.post(
        "/v1/pixel/reports/campaign",
        json={
            "campaign_id": campaign_id,
            "start_date": today,
            "end_date": today,
            "dimensions": ["url"],
        },
    )
    assert created.status_code == 201, created.text
    for _ in range(100):
        done: dict[str, Any] = api.get(f"/v1/pixel/reports/campaign/{created.json()['id']}").json()
        if done["status"] == "complete":
            return done
        assert done["status"] in ("pending", "processing"), done
        time.sleep(0.1)
    raise AssertionError(f"the report did not complete: {done}")
