"""The quotas of requests without valid credentials count a client address as sign-in does
(``core.deps.client_quota_address``): an IPv6 client as its /64 network, which one host holds
whole, an IPv4 client by its address. Three quotas: requests without a valid API key, without
a valid bearer token (Orchestrate), and failed OAuth token requests."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient

from beacon.app import create_app
from beacon.core.config import Settings
from beacon.core.db import Database

Call = Callable[[TestClient], httpx.Response]

CALLS: dict[str, Call] = {
    "api key": lambda c: c.get("/v1/pixel/campaigns", headers={"X-API-Key": "bk_wrong"}),
    "bearer": lambda c: c.get("/public/v1/contacts", headers={"Authorization": "Bearer nope"}),
    "token": lambda c: c.post(
        "/public/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
    ),
}


def _over_quota(settings: Settings, db: Database, call: Call, peers: list[str]) -> list[bool]:
    settings.anonymous_rate_limit = "3/minute"
    app = create_app(settings, run_worker=False)
    app.state.db.dispose()
    app.state.db = db
    refused = []
    for peer in peers:
        with TestClient(app, raise_server_exceptions=False, client=(peer, 40000)) as client:
            status = call(client).status_code
            assert status in (400, 401, 429)
            refused.append(status == 429)
    return refused


@pytest.mark.parametrize("quota", sorted(CALLS))
@pytest.mark.parametrize(
    ("peers", "expected"),
    [
        # one /64: the fourth address is over the quota of three
        ([f"2001:db8:0:1::{n}" for n in range(1, 5)], [False, False, False, True]),
        # four /64 networks, four IPv4 addresses: each counted on its own
        ([f"2001:db8:0:{n}::1" for n in range(1, 5)], [False] * 4),
        ([f"192.0.2.{n}" for n in range(1, 5)], [False] * 4),
    ],
)
def test_an_ipv6_client_is_counted_by_its_64(
    settings: Settings, db: Database, quota: str, peers: list[str], expected: list[bool]
) -> None:
    assert _over_quota(settings, db, CALLS[quota], peers) == expected
