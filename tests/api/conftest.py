"""Fuzzing runs on one backend: PostgreSQL when configured (its stricter types find more,
e.g. 32-bit ids), SQLite otherwise. Every other test still runs on both."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get("BEACON_TEST_POSTGRES_URL"):
        return
    dropped = [i for i in items if HERE in i.path.parents and i.nodeid.endswith("[sqlite]")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        gone = set(dropped)
        items[:] = [i for i in items if i not in gone]
