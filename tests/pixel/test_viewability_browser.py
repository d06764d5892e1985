"""The script tag measures viewability in real headless Chromium, and the campaign report
shows exactly what the browser saw.

Each placement is a local page served by a real HTTP server, holding the tag Beacon generates;
the page's own scenario script moves the ad in or out of view at fixed times counted from the
moment the tag began measuring it (so placements opened one after the other keep their own
timing, and a browser slow to draw its first frame shifts the whole scenario, not just the
tag's view of it). Headless Chromium reports every page as
visible (background tabs and minimised windows included), so the hidden-tab page switches the
Page Visibility API's state itself the way a browser does when a tab goes to the background:
``document.visibilityState`` reads ``hidden`` and ``visibilitychange`` fires.

A page whose main thread is busy delivers the observer's notices and ``visibilitychange`` late:
the busy pages block their main thread (a loop in the page, as a heavy script does) right as
the ad leaves, past the moment the tag's timer is due, so the timer fires before the notice.

In real ad serving the tag runs inside the ad server's iframe, usually cross-origin: the
framed placements put the tag in a creative page (``/ad/...``) served by a second server on
another port, in an iframe of the publisher's page, which scrolls it in and out of view.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
# Every page's outcome is settled this long after its measuring began: past its last move and
# past the longest duration (a video's 2 s), so a wrong `viewable` would have been sent too.
SETTLED_MS = 3000

_TALL = "<div style='height:6000px'></div>"
_AWAY, _BACK = "scrollTo(0,5000)", "scrollTo(0,0)"
# The tab goes to the background: the Page Visibility API's state as a browser changes it.
_HIDE = (
    "Object.defineProperty(document,'visibilityState',{configurable:true,get:function(){return 'hidden'}});"
    "Object.defineProperty(document,'hidden',{configurable:true,get:function(){return true}});"
    "document.dispatchEvent(new Event('visibilitychange'))"
)


def _scenario(*steps: tuple[int, str]) -> str:
    """The page's script: each step's JS runs that many ms after the tag began measuring the ad,
    and ``window.scenarioSettled`` is set ``SETTLED_MS`` after it.

    The start is the ad's first IntersectionObserver report (delivered to the tag's observer,
    created first, just before this one; in a frame laid out late, the tag's may start up to a
    check, 0.1 s, after this one), and for a video the moment it plays as well: the tag can
    measure nothing before. Counted from the page's parse instead, a browser that drew the
    first page's first frame late (a loaded machine, a browser just started) gave an ad "in view
    for 1.5 s" less than the 1 s the tag needs.
    """
    timers = "".join(f"setTimeout(function(){{{code}}},{ms});" for ms, code in steps)
    return (
        "<script>(function(){var a=document.getElementById('ad'),v=a.querySelector('video'),"
        "seen=0,go=0;function start(){if(go||seen<1||(v&&v.paused))return;go=1;"
        f"{timers}setTimeout(function(){{window.scenarioSettled=true}},{SETTLED_MS})}}"
        "new IntersectionObserver(function(e,o){o.disconnect();seen++;start()}).observe(a);"
        "if(v)v.addEventListener('playing',start);"
        # An iframe's tag measures once its document has loaded: the scenario starts then.
        "if(a.tagName=='IFRAME'){seen=-1;a.addEventListener('load',function(){seen++;start()})}"
        "})()</script>"
    )


def _busy(ms: int) -> str:
    """The page's main thread does nothing else for ``ms`` ms: no timer, event or observer
    callback runs, and no frame is drawn, until it is done."""
    return f"for(var b=performance.now();performance.now()-b<{ms};);"


# The tab goes to the background, and its main thread is busy when it does: the state reads
# `hidden` at once, its `visibilitychange` comes 0.1 s after the busy spell (a task queued
# then, with no delay, would run before the tag's overdue timer: the notice would not be late).
_HIDE_BUSY = (
    "Object.defineProperty(document,'visibilityState',{configurable:true,get:function(){return 'hidden'}});"
    "Object.defineProperty(document,'hidden',{configurable:true,get:function(){return true}});"
    + _busy(900)
    + "setTimeout(function(){document.dispatchEvent(new Event('visibilitychange'))},100)"
)


# In view 0.6 s, away 0.3 s, back for 0.6 s, away: 1.2 s in view, never 1 s without a break.
_IN_OUT_IN = _scenario((600, _AWAY), (900, _BACK), (1500, _AWAY))
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
    return f"<div id=ad style='{style}'>{inner}{tag}</div>"


def _busy_pages(script: str, image: str) -> dict[str, str]:
    """Page path -> HTML: placements whose page is busy around the moment the tag's timer is
    due (it would send `viewable` 1 s, or 2 s for a video, after the ad came into view)."""
    del image
    return {
        # In view 1.5 s of a video's 2 s, then away while the page is busy for 0.9 s.
        "/busy-video-away-at-1500ms.html": _ad(script, width=640, height=360, top=50, inner=_VIDEO)
        + _scenario((1500, _AWAY + ";" + _busy(900))),
        # In view 0.6 s of a display ad's 1 s, then away while the page is busy for 0.9 s.
        "/busy-away-at-600ms.html": _ad(script, width=300, height=250, top=50)
        + _scenario((600, _AWAY + ";" + _busy(900))),
        # In view 0.6 s, then the tab goes to the background while the page is busy.
        "/busy-hidden-at-600ms.html": _ad(script, width=300, height=250, top=50)
        + _scenario((600, _HIDE_BUSY)),
        # Away (and busy) at 0.6 s, back 0.1 s after: the broken run does not count, the
        # tag goes on measuring, and the ad's next second in view does.
        "/busy-away-and-back.html": _ad(script, width=300, height=250, top=50)
        + _scenario((600, _AWAY + ";" + _busy(900) + "setTimeout(function(){" + _BACK + "},100)")),
        # Busy from 0.6 s to 1.5 s with the ad in view all along: viewable.
        "/busy-in-view.html": _ad(script, width=300, height=250, top=50)
        + _scenario((600, _busy(900))),
    }


BUSY_EXPECTED = {
    "/busy-video-away-at-1500ms.html": (1, 0),
    "/busy-away-at-600ms.html": (1, 0),
    "/busy-hidden-at-600ms.html": (1, 0),
    "/busy-away-and-back.html": (1, 1),
    "/busy-in-view.html": (1, 1),
}


def _pages(script: str, image: str) -> dict[str, str]:
    """Page path -> HTML: the placements, and what the browser must make of each."""
    below = VIEWPORT["height"] + 2000
    peek = VIEWPORT["height"] - 100  # 100 px of a 250 px high ad in view: 40%
    return {
        "/in-view-1500ms.html": _ad(script, width=300, height=250, top=50)
        + _scenario((1500, _AWAY)),
        "/below-the-fold.html": _ad(script, width=300, height=250, top=below) + _scenario(),
        "/in-view-500ms.html": _ad(script, width=300, height=250, top=50) + _scenario((500, _AWAY)),
        "/in-out-in-600ms.html": _ad(script, width=300, height=250, top=50) + _IN_OUT_IN,
        "/hidden-tab.html": _ad(script, width=300, height=250, top=50) + _scenario((300, _HIDE)),
        "/video-2500ms.html": _ad(script, width=640, height=360, top=50, inner=_VIDEO)
        + _scenario((2500, _AWAY)),
        "/video-1500ms.html": _ad(script, width=640, height=360, top=50, inner=_VIDEO)
        + _scenario((1500, _AWAY)),
        # 970 x 250 = 242,500 px2: 30% in view is enough; a 300 x 250 ad needs 50%.
        "/large-40-percent.html": _ad(script, width=970, height=250, top=peek) + _scenario(),
        "/small-40-percent.html": _ad(script, width=300, height=250, top=peek) + _scenario(),
        "/image-tag-only.html": _ad(image, width=300, height=250, top=50) + _scenario(),
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


# The creatives' pages (served without the publisher page's height), each in one iframe.
CREATIVES = "/ad/"
# The ad server's creatives come from another port of the loopback address (cross-origin,
# the same site: Chromium runs them in the publisher page's process, on its main thread) or,
# named `localhost`, from another site (an out-of-process iframe, on a main thread of its own).
SAME_SITE, CROSS_SITE = "127.0.0.1", "localhost"


def _iframe(src: str, *, top: int) -> str:
    return (
        f"<iframe id=ad src='{src}' width=300 height=250 scrolling=no "
        f"style='position:absolute;left:0;top:{top}px;border:0'></iframe>"
    )


def _framed(
    script: str,
    src: str,
    *,
    top: int,
    scenario: str,
    creative_scenario: str = "",
    holder: str = "{}",
) -> dict[str, str]:
    """The publisher's page holding a 300 x 250 iframe at ``top`` (``id=ad``, so its scenario
    starts once the iframe has loaded and was first seen) in its ``holder``'s ``{}``, and the
    creative it frames: the ad with the tag, filling the iframe, and the creative's own
    ``creative_scenario``."""
    creative = CREATIVES + src.rsplit(CREATIVES, 1)[1]
    return {
        "/" + creative.removeprefix(CREATIVES): holder.format(_iframe(src, top=top)) + scenario,
        creative: _ad(script, width=300, height=250, top=0) + creative_scenario,
    }


def _nested(script: str, src: str, *, top: int, scenario: str) -> dict[str, str]:
    """The creative's iframe inside a same-origin iframe of the publisher's (as a publisher's
    ad slot framing the ad server's iframe), that one at ``top``."""
    pages = _framed(script, src, top=0, scenario="")
    name = src.rsplit(CREATIVES, 1)[1]
    slot = CREATIVES + "slot-" + name
    pages[slot] = pages.pop("/" + name)
    pages["/" + name] = _iframe(slot, top=top) + scenario
    return pages


# A scroll container in view on the publisher's page: what it clips is out of view.
_SCROLLER = (
    "<div id=box style='position:absolute;left:0;top:50px;width:320px;height:270px;"
    "overflow:auto'>{}<div style='height:3000px'></div></div>"
)


def _framed_pages(script: str, *, ad_port: int) -> dict[str, str]:
    """Page path -> HTML: the placements where the tag runs in a cross-origin iframe (the ad
    server's, on ``ad_port``), and the creatives they frame."""
    below = VIEWPORT["height"] + 2000
    peek = VIEWPORT["height"] - 100  # 100 px of the 250 px high iframe in view: 40%
    ad = f"http://{SAME_SITE}:{ad_port}{CREATIVES}"
    other_site = f"http://{CROSS_SITE}:{ad_port}{CREATIVES}"
    return {
        **_framed(script, ad + "in-view-1500ms.html", top=50, scenario=_scenario((1500, _AWAY))),
        **_framed(script, ad + "below-the-fold.html", top=below, scenario=_scenario()),
        **_framed(script, ad + "in-view-500ms.html", top=50, scenario=_scenario((500, _AWAY))),
        **_framed(script, ad + "40-percent.html", top=peek, scenario=_scenario()),
        **_framed(
            script,
            other_site + "cross-site-in-view-1500ms.html",
            top=50,
            scenario=_scenario((1500, _AWAY)),
        ),
        **_framed(
            script,
            other_site + "cross-site-in-view-500ms.html",
            top=50,
            scenario=_scenario((500, _AWAY)),
        ),
        # In the publisher's ad slot (a same-origin iframe) in view for 1.5 s.
        **_nested(
            script,
            other_site + "nested-in-view-1500ms.html",
            top=50,
            scenario=_scenario((1500, _AWAY)),
        ),
        # Inside a scroll container that is in view, but 1000 px down its content.
        **_framed(
            script,
            ad + "in-scroller-out-of-view.html",
            top=1000,
            scenario=_scenario(),
            holder=_SCROLLER,
        ),
    }


FRAMED_EXPECTED = {
    "/ad/in-view-1500ms.html": (1, 1),
    "/ad/below-the-fold.html": (1, 0),
    "/ad/in-view-500ms.html": (1, 0),
    "/ad/40-percent.html": (1, 0),
    "/ad/cross-site-in-view-1500ms.html": (1, 1),
    "/ad/cross-site-in-view-500ms.html": (1, 0),
    "/ad/nested-in-view-1500ms.html": (1, 1),
    "/ad/in-scroller-out-of-view.html": (1, 0),
}
# An out-of-process creative is busy from 0.5 s to 1.45 s (its own clock); the publisher's page,
# not busy, scrolls it away at 0.6 s. Whether the creative's overdue timer or its next frame
# (which brings the observer's "left the view") runs first after the spell is the browser's
# choice: the timer came first for 15 of 32 copies on a loaded two-CPU machine (from none of 4
# to 7 of 10 in one run), so the placement is repeated to catch a tag that trusts the iframe's
# own viewport: each copy of it counts viewable with about that chance.
CROSS_SITE_BUSY_COPIES = 10
_CREATIVE_BUSY = _scenario((500, _busy(950)))


def _framed_busy_pages(script: str, *, ad_port: int) -> dict[str, str]:
    """Page path -> HTML: the busy placements with the tag in an iframe."""
    # The publisher's page is busy: so are its same-site iframes, on its main thread.
    away_busy = _scenario((600, _AWAY + ";" + _busy(900)))
    away_and_back = _scenario(
        (600, _AWAY + ";" + _busy(900) + "setTimeout(function(){" + _BACK + "},100)")
    )
    ad = f"http://{SAME_SITE}:{ad_port}{CREATIVES}"
    other_site = f"http://{CROSS_SITE}:{ad_port}{CREATIVES}"
    pages = {
        # In view 0.6 s of a display ad's 1 s, then away while the page is busy for 0.9 s.
        **_framed(script, ad + "busy-away-at-600ms.html", top=50, scenario=away_busy),
        # The same in a same-origin iframe.
        **_framed(
            script, CREATIVES + "same-origin-busy-away-at-600ms.html", top=50, scenario=away_busy
        ),
        # Away (and busy) at 0.6 s, back 0.1 s after: the next second in view counts.
        **_framed(script, ad + "busy-away-and-back.html", top=50, scenario=away_and_back),
        # In a scroll container the page scrolls (not the window) while busy.
        **_framed(
            script,
            ad + "busy-scroller-away-at-600ms.html",
            top=0,
            holder=_SCROLLER,
            scenario=_scenario(
                (600, "document.getElementById('box').scrollTop=1000;" + _busy(900))
            ),
        ),
        # Busy from 0.6 s to 1.5 s with the iframe in view all along: viewable.
        **_framed(script, ad + "busy-in-view.html", top=50, scenario=_scenario((600, _busy(900)))),
        # The out-of-process creative busy while in view all along: viewable.
        **_framed(
            script,
            other_site + "cross-site-busy-in-view.html",
            top=50,
            scenario=_scenario(),
            creative_scenario=_CREATIVE_BUSY,
        ),
    }
    for copy in range(1, CROSS_SITE_BUSY_COPIES + 1):
        # In view 0.6 s, then scrolled away while the creative is busy.
        pages |= _framed(
            script,
            other_site + f"cross-site-busy-away-at-600ms-{copy}.html",
            top=50,
            scenario=_scenario((600, _AWAY)),
            creative_scenario=_CREATIVE_BUSY,
        )
    return pages


FRAMED_BUSY_EXPECTED = {
    "/ad/busy-away-at-600ms.html": (1, 0),
    "/ad/same-origin-busy-away-at-600ms.html": (1, 0),
    "/ad/busy-away-and-back.html": (1, 1),
    "/ad/busy-scroller-away-at-600ms.html": (1, 0),
    "/ad/busy-in-view.html": (1, 1),
    "/ad/cross-site-busy-in-view.html": (1, 1),
    **{
        f"/ad/cross-site-busy-away-at-600ms-{copy}.html": (1, 0)
        for copy in range(1, CROSS_SITE_BUSY_COPIES + 1)
    },
}


# The publisher's page is busy for 1.5 s right after its iframe (and its scenario script,
# which must listen for the iframe's `load` before): it lays the iframe out only then, and
# until it does the out-of-process creative's document has no layout at all (no client rects,
# a 0 x 0 viewport) though its tag has run.
_LATE_LAYOUT = "<script>" + _busy(1500) + "</script>"
LATE_LAYOUT_COPIES = 2


def _late_layout_pages(script: str, *, ad_port: int) -> dict[str, str]:
    """Page path -> HTML: cross-site creatives whose tag runs before their frame is laid out."""
    other_site = f"http://{CROSS_SITE}:{ad_port}{CREATIVES}"
    below = VIEWPORT["height"] + 2000
    pages: dict[str, str] = {}
    for copy in range(1, LATE_LAYOUT_COPIES + 1):
        pages |= _framed(
            script,
            other_site + f"late-layout-in-view-2000ms-{copy}.html",
            top=50,
            # 2 s: the tag starts watching the ad up to 0.1 s (a check) after this page's own
            # observer, and its frame's first report crosses processes
            scenario=_scenario((2000, _AWAY)) + _LATE_LAYOUT,
        )
        pages |= _framed(
            script,
            other_site + f"late-layout-below-the-fold-{copy}.html",
            top=below,
            scenario=_scenario() + _LATE_LAYOUT,
        )
    return pages


LATE_LAYOUT_EXPECTED = {
    f"/ad/late-layout-{name}-{copy}.html": counts
    for copy in range(1, LATE_LAYOUT_COPIES + 1)
    for name, counts in (("in-view-2000ms", (1, 1)), ("below-the-fold", (1, 0)))
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
        # A creative fills its iframe; only the publisher's page is long enough to scroll.
        tail = "" if self.path.startswith(CREATIVES) else _TALL
        encoded = f"<!doctype html><html><body style='margin:0'>{body}{tail}</body></html>"
        data = encoded.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextlib.contextmanager
def _serving() -> Iterator[_Site]:
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
def site() -> Iterator[_Site]:
    """A real HTTP server for the publisher pages (pages are set by the test)."""
    with _serving() as server:
        yield server


@pytest.fixture
def ad_site() -> Iterator[_Site]:
    """The ad server's: the same pages on another port, so its creatives are cross-origin."""
    with _serving() as server:
        yield server


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
        _measure_and_report(api, site, sync_api.sync_playwright, _pages, EXPECTED)


def test_a_busy_page_cannot_make_an_ad_viewable_after_it_left(
    site: _Site, beacon: LiveServer
) -> None:
    """The tag's timer fires before the late notice: it checks the ad's state itself."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python")
    assert beacon.first_key
    with httpx.Client(base_url=beacon.base_url, headers={"X-API-Key": beacon.first_key}) as api:
        _measure_and_report(
            api, site, sync_api.sync_playwright, _busy_pages, BUSY_EXPECTED, one_at_a_time=True
        )


def test_the_tag_measures_viewability_inside_a_cross_origin_iframe(
    site: _Site, ad_site: _Site, beacon: LiveServer
) -> None:
    """In view, below the fold, in view too briefly, 40% in view: what the top-level viewport
    shows, not the iframe's own viewport (which the ad always fills)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python")
    assert beacon.first_key
    with httpx.Client(base_url=beacon.base_url, headers={"X-API-Key": beacon.first_key}) as api:
        _measure_and_report(
            api,
            site,
            sync_api.sync_playwright,
            lambda script, image: _framed_pages(script, ad_port=ad_site.server_address[1]),
            FRAMED_EXPECTED,
            ad_site=ad_site,
        )


def test_a_busy_page_cannot_make_a_framed_ad_viewable_after_it_left(
    site: _Site, ad_site: _Site, beacon: LiveServer
) -> None:
    """Inside an iframe the tag's own check at its timer cannot see the top-level viewport:
    it asks the observer afresh where the ad is."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python")
    assert beacon.first_key
    with httpx.Client(base_url=beacon.base_url, headers={"X-API-Key": beacon.first_key}) as api:
        _measure_and_report(
            api,
            site,
            sync_api.sync_playwright,
            lambda script, image: _framed_busy_pages(script, ad_port=ad_site.server_address[1]),
            FRAMED_BUSY_EXPECTED,
            one_at_a_time=True,
            ad_site=ad_site,
        )


def test_a_framed_ad_is_measured_once_its_frame_is_laid_out(
    site: _Site, ad_site: _Site, beacon: LiveServer
) -> None:
    """A busy publisher page lays its cross-site iframe out late: the creative's tag finds its
    ad unrendered, waits for it, and measures it then (its impression never goes unmeasured)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python")
    assert beacon.first_key
    with httpx.Client(base_url=beacon.base_url, headers={"X-API-Key": beacon.first_key}) as api:
        _measure_and_report(
            api,
            site,
            sync_api.sync_playwright,
            lambda script, image: _late_layout_pages(script, ad_port=ad_site.server_address[1]),
            LATE_LAYOUT_EXPECTED,
            one_at_a_time=True,
            ad_site=ad_site,
        )


def _measure_and_report(
    api: httpx.Client,
    site: _Site,
    sync_playwright: Any,
    pages_for: Callable[[str, str], dict[str, str]],
    expected: dict[str, tuple[int, int]],
    *,
    one_at_a_time: bool = False,
    ad_site: _Site | None = None,
) -> None:
    """Opens every page, waits for its scenario, and checks the campaign report against
    ``expected``. Busy pages go ``one_at_a_time``: pages of one site may share a renderer's
    main thread, and one page's busy spell would shift the others' timing. The ``ad_site``
    serves the same pages on its own port; the creatives (``CREATIVES``) are only framed."""
    created = api.post(
        "/v1/pixel/campaigns", json={"name": "viewability", "use_case": "campaign_reporting"}
    )
    assert created.status_code == 201, created.text
    campaign_id = int(created.json()["id"])
    code = api.get(f"/v1/pixel/campaigns/{campaign_id}/code").json()
    site.pages = pages_for(code["snippets"]["script"], code["snippets"]["img"])
    if ad_site is not None:
        ad_site.pages = site.pages
    origin = f"http://127.0.0.1:{site.server_address[1]}"
    servers = {urlsplit(origin).netloc} | (
        {f"{host}:{ad_site.server_address[1]}" for host in (SAME_SITE, CROSS_SITE)}
        if ad_site is not None
        else set()
    )

    expected_totals = (sum(m for m, _ in expected.values()), sum(v for _, v in expected.values()))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = browser.new_context(viewport=VIEWPORT, user_agent=BROWSER_UA)  # type: ignore[arg-type]
            pages = []
            for path in site.pages:
                if path.startswith(CREATIVES):
                    continue
                page = context.new_page()
                page.goto(origin + path, wait_until="load")
                pages.append(page)
                if one_at_a_time:
                    page.wait_for_function("window.scenarioSettled === true", timeout=60_000)
            for page in pages:  # every scenario played out, however late each one began
                page.wait_for_function("window.scenarioSettled === true", timeout=60_000)
            # The pages stay open until the counts are in: a beacon still on its way when the
            # browser closes would be lost, and from here on no page can change what it sent.
            report = _counted(api, campaign_id, expected_totals, len(expected))
            context.close()
        finally:
            browser.close()
    assert {urlsplit(row["url"]).netloc for row in report["data"]} <= servers
    by_page = {
        urlsplit(row["url"]).path: (
            row["measurable_impressions"],
            row["viewable_impressions"],
        )
        for row in report["data"]
    }
    assert all(row["impressions"] == 1 for row in report["data"]), report["data"]
    assert by_page == expected
    assert report["summary"]["viewability_rate"] == round(
        expected_totals[1] / expected_totals[0], 6
    )


def _counted(
    api: httpx.Client, campaign_id: int, expected_totals: tuple[int, int], impressions: int
) -> dict[str, Any]:
    """The report once it counts every impression and the expected totals (the flusher counts
    within a few intervals; reports are computed on request); it fails after 30 s."""
    deadline = time.monotonic() + 30
    while True:
        report = _report(api, campaign_id)
        summary = report["summary"]
        totals = (summary["measurable_impressions"], summary["viewable_impressions"])
        if totals == expected_totals and summary["impressions"] == impressions:
            return report
        if time.monotonic() >= deadline:
            by_page = {
                row["url"]: (
                    row["impressions"],
                    row["measurable_impressions"],
                    row["viewable_impressions"],
                )
                for row in report["data"]
            }
            raise AssertionError(
                f"counts never reached {expected_totals} measurable/viewable of {impressions} "
                f"impressions: summary {summary}; (impressions, measurable, viewable) by page "
                f"{by_page}"
            )
        time.sleep(0.5)


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
