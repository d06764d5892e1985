"""The suite's fuzzer splits the documented operations between SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter

from tests.api.conftest import fuzz_backend
from tests.api.test_openapi_constraints import OPERATIONS


def test_operations_are_split_between_the_backends_stably() -> None:
    names = [f"{method} {path}" for method, path, _ in OPERATIONS]
    split = Counter(fuzz_backend(name) for name in names)
    # both backends get a fair share (each at least a third), the same one on every run
    assert set(split) == {"sqlite", "postgres"}
    assert min(split.values()) * 3 >= len(names)
    assert fuzz_backend("POST /v1/clsfy/classify") == fuzz_backend("POST /v1/clsfy/classify")
    assert fuzz_backend("POST /v1/clsfy/classify") == "sqlite"
