"""Fixtures of the Orchestrate tests: OAuth clients, tokens and small factories."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from tests.support import ALL_SCOPES, bearer_token

from beacon.core.db import Database

# Kept under its old name for the Orchestrate tests that import it.
issue_token = bearer_token


@pytest.fixture
def token_for(client: TestClient, db: Database) -> Callable[..., dict[str, str]]:
    """Factory: bearer headers for an account with the given scopes (all by default)."""

    def make(account: str = "acme", scopes: str = ALL_SCOPES) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(client, db, account, scopes)}"}

    return make


@pytest.fixture
def auth(token_for: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Bearer headers with every scope for account 'acme'."""
    return token_for()
