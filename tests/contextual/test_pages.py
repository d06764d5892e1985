"""Fetching and classifying pages in one process (``contextual/pages.py``): classification
runs off the event loop, so responses keep being read while a page is classified."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.contextual.site.server import LocalSite

from beacon.contextual import engine, pages
from beacon.contextual.fetch import FetchSettings


@pytest.fixture(scope="module")
def module_site() -> Iterator[LocalSite]:
    with LocalSite() as running:
        yield running


def test_classification_runs_off_the_event_loop_one_page_at_a_time(
    module_site: LocalSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = engine.classify_html
    calls: list[dict[str, Any]] = []
    busy = threading.Lock()

    def recording(**kwargs: Any) -> engine.Classification:
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        overlapped = not busy.acquire(blocking=False)
        try:
            # long enough for a loop that classified here to hold up the other fetches
            time.sleep(0.3)
            calls.append(
                {"on_loop": on_loop, "overlapped": overlapped, "thread": threading.get_ident()}
            )
            return real(**kwargs)
        finally:
            if not overlapped:
                busy.release()

    monkeypatch.setattr(engine, "classify_html", recording)
    urls = [module_site.url(p) for p in ("/football.html", "/gadgets.html", "/pasta.html")]
    results = pages.classify_here(urls, FetchSettings(allow_private_networks=True), 3, None)

    assert [r.url for r in results] == urls
    assert all(r.classification is not None for r in results), [r.error for r in results]
    assert len(calls) == 3
    assert not any(call["on_loop"] for call in calls)
    assert not any(call["overlapped"] for call in calls)
    assert threading.get_ident() not in {call["thread"] for call in calls}


def test_an_engine_failure_on_one_page_fails_only_that_page(
    module_site: LocalSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = engine.classify_html

    def failing_on_pasta(**kwargs: Any) -> engine.Classification:
        if "pasta" in kwargs["url"]:
            raise ValueError("odd page")
        return real(**kwargs)

    monkeypatch.setattr(engine, "classify_html", failing_on_pasta)
    urls = [module_site.url("/pasta.html"), module_site.url("/football.html")]
    results = pages.classify_here(urls, FetchSettings(allow_private_networks=True), 2, None)
    assert results[0].classification is None
    assert results[0].error == "classification failed: ValueError"
    assert results[1].classification is not None and results[1].error is None
