"""The token endpoint's quota counts failed attempts per real client address (issue 13):
successes never count, the 429 is RFC 6749-shaped, and behind a trusted proxy every client is
counted on its own instead of all sharing the proxy's address."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from beacon.app import create_app
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.messaging.oauth import service as oauth

TOKEN = "/public/v1/oauth/token"
PROXY = ("10.0.0.5", 40000)
MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(settings: Settings, db: Database) -> Iterator[MakeClient]:
    clients: list[TestClient] = []

    def build(*, peer: tuple[str, int] = ("203.0.113.7", 40000)) -> TestClient:
        settings.anonymous_rate_limit = "3/minute"
        settings.trusted_proxies = "10.0.0.0/8"
        app = create_app(settings, run_worker=False)
        app.state.db.dispose()
        app.state.db = db
        client = TestClient(app, raise_server_exceptions=False, client=peer)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def _issue(db: Database) -> oauth.IssuedClient:
    with db.transaction() as session:
        return oauth.create_client(session=session, account_name="acme", scopes="campaigns:read")


def _token(
    client: TestClient, client_id: str, secret: str, forwarded: str | None = None
) -> tuple[int, dict[str, object], dict[str, str]]:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    response = client.post(
        TOKEN,
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        headers=headers,
    )
    return response.status_code, response.json(), dict(response.headers)


def test_successful_requests_do_not_use_the_failure_quota(
    make_client: MakeClient, db: Database
) -> None:
    client = make_client()
    issued = _issue(db)
    statuses = [_token(client, issued.client_id, issued.client_secret)[0] for _ in range(6)]
    assert statuses == [200] * 6


def test_failures_lock_out_their_own_address_with_an_oauth_429(
    make_client: MakeClient, db: Database
) -> None:
    client = make_client()
    issued = _issue(db)
    failures = [_token(client, issued.client_id, "wrong")[0] for _ in range(3)]
    assert failures == [401, 401, 401]
    status, body, headers = _token(client, issued.client_id, issued.client_secret)
    assert status == 429
    assert body["error"] == "slow_down" and "error_description" in body
    assert int(headers["retry-after"]) >= 1
    assert headers["cache-control"] == "no-store"


def test_behind_a_trusted_proxy_each_client_has_its_own_quota(
    make_client: MakeClient, db: Database
) -> None:
    client = make_client(peer=PROXY)
    issued = _issue(db)
    attacker = "198.51.100.66"
    for _ in range(3):
        assert _token(client, issued.client_id, "wrong", forwarded=attacker)[0] == 401
    assert _token(client, issued.client_id, "wrong", forwarded=attacker)[0] == 429
    # Everyone else arrives through the same proxy and is not locked out.
    status, body, _ = _token(client, issued.client_id, issued.client_secret, forwarded="192.0.2.10")
    assert status == 200 and "access_token" in body
    # A hop the client wrote itself left of the real one changes nothing.
    spoofed = f"192.0.2.99, {attacker}"
    assert _token(client, issued.client_id, issued.client_secret, forwarded=spoofed)[0] == 429


def test_an_untrusted_peer_cannot_choose_its_address(make_client: MakeClient, db: Database) -> None:
    client = make_client(peer=("203.0.113.9", 40000))
    issued = _issue(db)
    for hop in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        assert _token(client, issued.client_id, "wrong", forwarded=hop)[0] == 401
    assert _token(client, issued.client_id, "wrong", forwarded="192.0.2.4")[0] == 429


def test_api_key_quota_uses_the_forwarded_client(make_client: MakeClient) -> None:
    client = make_client(peer=PROXY)
    for _ in range(3):
        response = client.get("/v1/pixel/campaigns", headers={"X-Forwarded-For": "198.51.100.1"})
        assert response.status_code == 401
    locked = client.get("/v1/pixel/campaigns", headers={"X-Forwarded-For": "198.51.100.1"})
    assert locked.status_code == 429
    other = client.get("/v1/pixel/campaigns", headers={"X-Forwarded-For": "198.51.100.2"})
    assert other.status_code == 401


def test_bearer_quota_uses_the_forwarded_client(make_client: MakeClient, db: Database) -> None:
    """Bad bearer tokens through the load balancer lock out their sender, not the proxy."""
    client = make_client(peer=PROXY)
    bad = {"Authorization": "Bearer not-a-token"}
    for _ in range(3):
        response = client.get(
            "/public/v1/campaigns", headers={**bad, "X-Forwarded-For": "198.51.100.1"}
        )
        assert response.status_code == 401
    locked = client.get("/public/v1/campaigns", headers={**bad, "X-Forwarded-For": "198.51.100.1"})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
    issued = _issue(db)
    status, body, _ = _token(client, issued.client_id, issued.client_secret, forwarded="192.0.2.7")
    assert status == 200
    good = {"Authorization": f"Bearer {body['access_token']}", "X-Forwarded-For": "192.0.2.7"}
    assert client.get("/public/v1/campaigns", headers=good).status_code == 200


def test_concurrent_bad_attempts_get_no_more_checks_than_the_quota(
    make_client: MakeClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The quota was read before the secret check and counted after it, so bad attempts sent
    # at once all passed the read and each got a check. Each check here takes 0.3 s.
    client = make_client()
    issued = _issue(db)
    checks: list[str] = []
    real_matches = oauth.secret_matches

    def slow_matches(presented: str, stored_hash: str) -> bool:
        checks.append(presented)
        time.sleep(0.3)
        return real_matches(presented, stored_hash)

    monkeypatch.setattr(oauth, "secret_matches", slow_matches)
    start = threading.Barrier(12)

    def attempt(n: int) -> int:
        start.wait()
        return _token(client, issued.client_id, f"wrong {n}")[0]

    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(attempt, range(12)))

    assert len(checks) == 3  # the quota: 3/minute
    assert sorted(statuses) == [401] * 3 + [429] * 9
    monkeypatch.setattr(oauth, "secret_matches", real_matches)
    assert _token(client, issued.client_id, issued.client_secret)[0] == 429
