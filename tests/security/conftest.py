"""Fixtures of the security tests: credentials of both API families for any account."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from tests.support import ALL_SCOPES, bearer_token

from beacon.core.db import Database


@pytest.fixture
def bearer_for(client: TestClient, db: Database) -> Callable[..., dict[str, str]]:
    """Factory: ``Authorization`` headers for an account (every scope unless told)."""

    def make(account: str, scopes: str = ALL_SCOPES) -> dict[str, str]:
        return {"Authorization": f"Bearer {bearer_token(client, db, account, scopes)}"}

    return make
