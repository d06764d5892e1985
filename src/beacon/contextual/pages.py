"""Fetch and classify pages in this process: bounded parallel fetches on one client, each
page classified as it arrives; no database involved. ``service.classify_pages`` calls it
here, or through the classifier's child process (``process.py``), which calls it there."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from beacon.contextual import engine, fetch
from beacon.contextual.fetch import FetchError, FetchSettings, PageFetcher, SiteHold
from beacon.core.timefmt import utcnow

log = logging.getLogger("beacon.contextual")


@dataclass(frozen=True, slots=True)
class PageResult:
    """One page fetched and classified (or the reason it could not be); no database involved."""

    url: str
    classification: dict[str, Any] | None
    error: str | None
    classified_at: datetime
    title: str = ""  # extracted from the page (not part of the wire classification)
    language: str | None = None
    # Whether the failure may not recur (``FetchError.transient``): retried for longer.
    transient: bool = False
    retry_after: float | None = None  # seconds a 429/503 asked to wait (``FetchError``)
    # Not fetched: its site is held after another page's 429/503 (``FetchError.held``), so
    # the failure is not one more attempt at the page.
    held: bool = False
    # The hold this page's answer put on its site (``FetchError.hold``): a server learns it
    # from its classifier child with the result.
    hold: SiteHold | None = None


def held_result(url: str) -> PageResult | None:
    """The failure ``url`` meets without being fetched while its site is held in this
    process (what the fetcher answers then), else None."""
    hold = fetch.site_hold(url)
    if hold is None:
        return None
    return PageResult(
        url=url,
        classification=None,
        error=hold.reason,
        classified_at=utcnow(),
        transient=True,
        retry_after=hold.seconds,
        held=True,
    )


def classify_here(
    urls: Sequence[str], limits: FetchSettings, parallel: int, min_confidence: float | None
) -> list[PageResult]:
    """Fetch and classify ``urls`` in this process, at most ``parallel`` at once."""
    if not urls:
        return []
    # Load the models before any fetch starts: a first classification that also loads them
    # (seconds of CPU, much of it holding the GIL) would starve the fetches in flight.
    engine.warm_up()
    return asyncio.run(_classify_all(urls, limits, parallel, min_confidence))


async def _classify_all(
    urls: Sequence[str], limits: FetchSettings, parallel: int, min_confidence: float | None
) -> list[PageResult]:
    semaphore = asyncio.Semaphore(parallel)
    # Classification is CPU work of tens of milliseconds a page: it runs on one thread of its
    # own, pages one after another as they arrive, so the event loop keeps reading the other
    # responses meanwhile (on the loop, a slow classification held up every fetch in flight
    # while their read timeouts ran: the flaky batch test of session 12).
    # One client for the whole run: pooled connections, one TLS context, cached robots.txt.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="beacon-classify") as classifier:
        async with PageFetcher(limits, max_connections=parallel) as fetcher:

            async def bounded(url: str) -> PageResult:
                async with semaphore:
                    return await _classify_page(fetcher, classifier, url, min_confidence)

            return list(await asyncio.gather(*(bounded(url) for url in urls)))


async def _classify_page(
    fetcher: PageFetcher, classifier: ThreadPoolExecutor, url: str, min_confidence: float | None
) -> PageResult:
    try:
        page = await fetcher.fetch(url)
        result = await asyncio.get_running_loop().run_in_executor(
            classifier,
            partial(
                engine.classify_html,
                html=page.html,
                url=page.final_url,
                min_confidence=min_confidence,
            ),
        )
    except FetchError as exc:
        return PageResult(
            url=url,
            classification=None,
            error=exc.reason,
            classified_at=utcnow(),
            transient=exc.transient,
            retry_after=exc.retry_after,
            held=exc.held,
            hold=exc.hold,
        )
    except Exception as exc:
        # An engine bug on one odd page must not fail the other pages of a batch.
        log.exception("classification failed", extra={"url": url})
        reason = f"classification failed: {type(exc).__name__}"
        return PageResult(url=url, classification=None, error=reason, classified_at=utcnow())
    return PageResult(
        url=url,
        classification=result.to_dict(),
        error=None,
        classified_at=utcnow(),
        title=result.title,
        language=result.language,
    )
