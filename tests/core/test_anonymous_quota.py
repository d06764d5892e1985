"""The quota of requests without a valid API key counts a client address as sign-in does
(``core.clientaddr.quota_address``): an IPv6 client as its /64 network, which one host holds
whole, an IPv4 client by its address."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from beacon.app import create_app
from beacon.core.config import Settings
from beacon.core.db import Database


def _statuses(settings: Settings, db: Database, peers: list[str]) -> list[int]:
    settings.anonymous_rate_limit = "3/minute"
    app = create_app(settings, run_worker=False)
    app.state.db.dispose()
    app.state.db = db
    statuses = []
    for peer in peers:
        with TestClient(app, raise_server_exceptions=False, client=(peer, 40000)) as client:
            response = client.get("/v1/pixel/campaigns", headers={"X-API-Key": "bk_wrong"})
            statuses.append(response.status_code)
    return statuses


@pytest.mark.parametrize(
    ("peers", "expected"),
    [
        # one /64: the fourth address is over the quota of three
        ([f"2001:db8:0:1::{n}" for n in range(1, 5)], [401, 401, 401, 429]),
        # four /64 networks, four IPv4 addresses: each counted on its own
        ([f"2001:db8:0:{n}::1" for n in range(1, 5)], [401] * 4),
        ([f"192.0.2.{n}" for n in range(1, 5)], [401] * 4),
    ],
)
def test_an_ipv6_client_is_counted_by_its_64(
    settings: Settings, db: Database, peers: list[str], expected: list[int]
) -> None:
    assert _statuses(settings, db, peers) == expected
