"""Shared fixtures of the pixel tests."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from beacon.app import create_app
from beacon.core.config import Settings
from beacon.core.db import Database


@pytest.fixture
def pixel_app(settings: Settings, db: Database) -> FastAPI:
    """The application on the test database, no in-process worker, and a flush interval long
    enough that hits are counted only when a test calls ``app.state.pixel.flush()``."""
    configured = settings.model_copy(update={"pixel_flush_interval": 3600.0})
    application = create_app(configured, run_worker=False)
    application.state.db.dispose()
    application.state.db = db
    return application
