"""Fixtures of the security tests: credentials of both API families for any account."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from beacon.core.db import Database
from beacon.messaging import oauth

ALL_SCOPES = " ".join(oauth.SCOPES)


def bearer_token(client: TestClient, db: Database, account: str, scopes: str = ALL_SCOPES) -> str:
    """A new OAuth client of ``account`` exchanged for an access token at the token endpoint."""
    with db.transaction() as session:
        issued = oauth.create_client(session=session, account_name=account, scopes=scopes)
    response = client.post(
        "/public/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": issued.client_id,
            "client_secret": issued.client_secret,
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
def bearer_for(client: TestClient, db: Database) -> Callable[..., dict[str, str]]:
    """Factory: ``Authorization`` headers for an account (every scope unless told)."""

    def make(account: str, scopes: str = ALL_SCOPES) -> dict[str, str]:
        return {"Authorization": f"Bearer {bearer_token(client, db, account, scopes)}"}

    return make
