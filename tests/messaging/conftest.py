"""Fixtures of the Orchestrate tests: OAuth clients, tokens and small factories."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from tests.messaging.helpers import API

from beacon.core.db import Database
from beacon.messaging import oauth

ALL_SCOPES = " ".join(oauth.SCOPES)


def issue_token(client: TestClient, db: Database, account: str, scopes: str = ALL_SCOPES) -> str:
    """A fresh client for ``account`` with ``scopes``, exchanged for a token at the endpoint."""
    with db.transaction() as session:
        issued = oauth.create_client(session=session, account_name=account, scopes=scopes)
    response = client.post(
        f"{API}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": issued.client_id,
            "client_secret": issued.client_secret,
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


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
