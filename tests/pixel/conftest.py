"""Shared fixtures of the pixel tests."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from beacon.app import create_app
from beacon.core.config import Settings
from beacon.core.db import Database


@pytest.fixture
def pixel_settings() -> dict[str, Any]:
    """Settings a test module changes for ``pixel_app``: override this fixture there."""
    return {}


@pytest.fixture
def pixel_app(settings: Settings, db: Database, pixel_settings: dict[str, Any]) -> FastAPI:
    """The application on the test database, no in-process worker, and a flush interval long
    enough that hits are counted only when a test calls ``app.state.pixel.flush()``."""
    configured = settings.model_copy(update={"pixel_flush_interval": 3600.0, **pixel_settings})
    application = create_app(configured, run_worker=False)
    application.state.db.dispose()
    application.state.db = db
    return application
