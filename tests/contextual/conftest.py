"""Fixtures of the contextual tests: the local web site of test pages, and settings that let
the classifier fetch it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.contextual.site.server import OPEN_FETCH, LocalSite

from beacon.core.config import Settings


@pytest.fixture
def site() -> Iterator[LocalSite]:
    with LocalSite() as running:
        yield running


@pytest.fixture
def open_settings(settings: Settings) -> Settings:
    """The test instance's settings, allowed to fetch the local site."""
    return settings.model_copy(update=OPEN_FETCH)
