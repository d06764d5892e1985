"""Backends of the tests in this directory when PostgreSQL is configured.

The contract fuzzer (test_fuzz.py) splits the documented operations between the two backends:
each operation runs on one of them, chosen by a stable hash of its name, so SQLite and
PostgreSQL are both fuzzed in the time one backend took. BEACON_FUZZ_BACKEND=sqlite|postgres
runs every operation on that backend instead (bench/fuzz/run.py). The other tests here run on
PostgreSQL only (its stricter types find more, e.g. 32-bit ids); every other test runs on both.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import pytest

HERE = Path(__file__).parent
SPLIT = ("sqlite", "postgres")


def fuzz_backend(operation: str) -> str:
    """The backend the suite fuzzes ``operation`` (``"POST /v1/clsfy/classify"``) on."""
    return SPLIT[zlib.crc32(operation.encode()) % len(SPLIT)]


def _runs(item: pytest.Item) -> bool:
    if HERE not in item.path.parents:
        return True
    if item.path.name != "test_fuzz.py":
        return not item.nodeid.endswith("[sqlite]")
    # test_operation_conforms_to_contract[POST /v1/clsfy/classify][sqlite]
    operation, _, backend = item.name.partition("[")[2].rstrip("]").rpartition("][")
    return backend == (os.environ.get("BEACON_FUZZ_BACKEND") or fuzz_backend(operation))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get("BEACON_TEST_POSTGRES_URL"):
        return
    dropped = [i for i in items if not _runs(i)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        gone = set(dropped)
        items[:] = [i for i in items if i not in gone]
