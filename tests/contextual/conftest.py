"""Fixtures of the contextual tests: the local web site of test pages, and settings that let
the classifier fetch it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.contextual.site.server import OPEN_FETCH, LocalSite

from beacon.contextual import fetch
from beacon.core.config import Settings


@pytest.fixture(autouse=True)
def _fresh_robots_cache() -> Iterator[None]:
    """Every test fetches with an empty robots.txt cache: the cache is per process and keyed
    by origin, and the local sites of two tests can share an origin when a port is reused."""
    fetch.clear_robots_cache()
    yield
    fetch.clear_robots_cache()


@pytest.fixture
def site() -> Iterator[LocalSite]:
    with LocalSite() as running:
        yield running


@pytest.fixture
def open_settings(settings: Settings) -> Settings:
    """The test instance's settings, allowed to fetch the local site."""
    return settings.model_copy(update=OPEN_FETCH)
