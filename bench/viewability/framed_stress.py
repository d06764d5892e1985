"""Stress: does a creative framed from another site lose its `measurable`? (issue 17)

    python bench/viewability/framed_stress.py [--batches 15] [--per-batch 8] [--hogs 2]
                                              [--throttle 4] [--instrument]

Publisher pages on 127.0.0.1 each frame one creative from `localhost` (another site: an
out-of-process iframe) holding Beacon's script tag, `--per-batch` pages opened one after the
other as the browser tests do, in `--batches` batches, beside `--hogs` busy-looping processes
(nice 19) and, with `--throttle`, Chromium's CPU throttling (CDP
`Emulation.setCPUThrottlingRate`, on the page and on every out-of-process frame's session).

Counts, per creative: what the real Beacon server (SQLite) counted (impressions, measurable),
what the browser sent (Playwright's request log of `POST /px/...`), and with `--instrument`
the tag's own console lines: where it stood when it decided whether it could measure
(parentElement, its client rects, the frame's viewport and document state) and what each
`sendBeacon` returned. `--tag file` reads the tag body from $BEACON_STRESS_TAG (a JS file
holding a full `<script>...</script>` tag) instead of the generated one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.pixel.test_viewability_browser import (
    BROWSER_UA,
    CHROMIUM,
    CREATIVES,
    CROSS_SITE,
    VIEWPORT,
    _ad,
    _busy,
    _iframe,
    _report,
    _serving,
)
from tests.support import LiveServer


def instrument(script: str) -> str:
    """The tag with console lines at its decision and at every send."""
    decide = "var t=s&&s.parentElement;"
    send = "if(navigator.sendBeacon&&navigator.sendBeacon(e,JSON.stringify(o)))return;"
    assert decide in script and send in script
    return (
        script.replace(
            decide,
            decide + "console.log('TAGDBG '+JSON.stringify({i:i,s:!!s,t:t&&t.tagName,"
            "rects:t?t.getClientRects().length:-1,io:!!window.IntersectionObserver,"
            "vis:D.visibilityState,ready:D.readyState,w:innerWidth,h:innerHeight,"
            "at:Math.round(performance.now())}));",
        )
        .replace(
            send,
            "var R=navigator.sendBeacon&&navigator.sendBeacon(e,JSON.stringify(o));"
            "console.log('TAGSEND '+JSON.stringify({i:o.iid,ev:o.ev||'imp',ok:!!R}));if(R)return;",
        )
        .replace("}catch(x){}", "}catch(x){console.log('TAGERR '+x)}")
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=15)
    parser.add_argument("--per-batch", type=int, default=8)
    parser.add_argument("--hogs", type=int, default=2)
    parser.add_argument("--throttle", type=float, default=0)
    parser.add_argument("--instrument", action="store_true")
    parser.add_argument("--settle", type=float, default=4.0)
    parser.add_argument("--parent-busy", type=int, default=0)
    args = parser.parse_args()

    hogs = [
        subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", "while 1: pass"])
        for _ in range(args.hogs)
    ]
    tmp = Path(tempfile.mkdtemp(prefix="framed-stress-"))
    beacon = LiveServer(
        data_dir=tmp / "data",
        database_url=f"sqlite:///{tmp / 'data' / 'beacon.db'}",
        env={"BEACON_PIXEL_FLUSH_INTERVAL": "0.2", "BEACON_RATE_LIMIT": "100000/minute"},
    ).start()
    try:
        with _serving() as site, _serving() as ad_site:
            run(args, beacon, site, ad_site)
    finally:
        beacon.stop()
        for hog in hogs:
            hog.kill()


def run(args: argparse.Namespace, beacon: LiveServer, site: Any, ad_site: Any) -> None:
    api = httpx.Client(base_url=beacon.base_url, headers={"X-API-Key": beacon.first_key or ""})
    created = api.post(
        "/v1/pixel/campaigns", json={"name": "stress", "use_case": "campaign_reporting"}
    )
    campaign_id = int(created.json()["id"])
    script = api.get(f"/v1/pixel/campaigns/{campaign_id}/code").json()["snippets"]["script"]
    if args.instrument:
        script = instrument(script)
    total = args.batches * args.per_batch
    ad_port = ad_site.server_address[1]
    pages: dict[str, str] = {}
    for n in range(total):
        pages[f"/p{n}.html"] = _iframe(
            f"http://{CROSS_SITE}:{ad_port}{CREATIVES}c{n}.html", top=50
        ) + (f"<script>{_busy(args.parent_busy)}</script>" if args.parent_busy else "")
        pages[f"{CREATIVES}c{n}.html"] = _ad(script, width=300, height=250, top=0)
    site.pages = ad_site.pages = pages
    origin = f"http://127.0.0.1:{site.server_address[1]}"
    console: dict[str, list[str]] = {}
    sent: Counter[tuple[str, str]] = Counter()

    def on_request(request: Any) -> None:
        if "/px/" in request.url and request.method == "POST":
            body = json.loads(request.post_data or "{}")
            sent[(body.get("iid", "?"), body.get("ev", "imp"))] += 1

    started = time.monotonic()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        context = browser.new_context(viewport=VIEWPORT, user_agent=BROWSER_UA)  # type: ignore[arg-type]
        context.on("request", on_request)
        for batch in range(args.batches):
            opened = []
            for k in range(args.per_batch):
                n = batch * args.per_batch + k
                page = context.new_page()
                lines = console.setdefault(f"c{n}", [])
                page.on("console", lambda msg, lines=lines: lines.append(msg.text))
                if args.throttle:
                    cdp = context.new_cdp_session(page)
                    cdp.send("Emulation.setCPUThrottlingRate", {"rate": args.throttle})
                page.goto(f"{origin}/p{n}.html", wait_until="load")
                opened.append(page)
            time.sleep(args.settle)
            for page in opened:
                page.close()
            print(f"batch {batch + 1}/{args.batches} done", file=sys.stderr, flush=True)
        time.sleep(3)
        browser.close()
    elapsed = time.monotonic() - started

    by_url: dict[str, tuple[int, int]] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        report = _report(api, campaign_id)
        by_url = {
            Path(urlsplit(row["url"]).path).stem: (
                row["impressions"],
                row["measurable_impressions"],
            )
            for row in report["data"]
        }
        if sum(i for i, _ in by_url.values()) >= total and all(m >= 1 for _, m in by_url.values()):
            break
        time.sleep(1)
    lost = sorted(name for name, (imp, meas) in by_url.items() if imp and not meas)
    no_impression = sorted(f"c{n}" for n in range(total) if f"c{n}" not in by_url)
    print(f"pages {total} in {elapsed:.0f} s; load average {os.getloadavg()}")
    print(f"server: impressions for {len(by_url)}, measurable missing for {len(lost)}: {lost}")
    print(f"no impression counted: {no_impression}")
    iids = {}
    for name, lines in console.items():
        for line in lines:
            if line.startswith("TAGDBG "):
                iids[name] = json.loads(line[7:])["i"]
    for name in lost + no_impression:
        iid = iids.get(name)
        browser_sent = {ev: sent[(iid, ev)] for ev in ("imp", "measurable")} if iid else "?"
        print(f"  {name}: request log {browser_sent}; console {console.get(name)}")
    early = {
        name: lines
        for name, lines in console.items()
        if not any('"ev":"measurable"' in line for line in lines)
    }
    print(f"tag never sent measurable (console) on {len(early)} pages")
    for name, lines in list(early.items())[:20]:
        print(f"  {name}: {lines}")


if __name__ == "__main__":
    main()
