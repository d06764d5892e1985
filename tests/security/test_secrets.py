"""Credentials (API keys, OAuth client secrets, access tokens) are stored only as hashes, compared
in constant time, and never written to a log or an error body, in-process or by a real server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.support import LiveServer

from beacon.app import metadata
from beacon.core import auth, security
from beacon.core.db import Database
from beacon.core.deps import CurrentCaller
from beacon.core.http import json_log_formatter
from beacon.messaging.errors import InvalidClient
from beacon.messaging.oauth import service as oauth

TOKEN_URL = "/public/v1/oauth/token"
ALL_SCOPES = " ".join(oauth.SCOPES)


@pytest.fixture
def compare_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """Every ``hmac.compare_digest`` call made while the test runs."""
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    yield calls


def test_secret_comparison_is_constant_time(compare_calls: list[tuple[str, str]]) -> None:
    secret = security.new_secret("bk", 32)
    stored = security.hash_secret(secret)
    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    assert security.secret_matches(secret, stored)
    assert not security.secret_matches(secret[:-1] + "x", stored)
    assert compare_calls == [
        (stored, stored),
        (security.hash_secret(secret[:-1] + "x"), stored),
    ]


def test_api_key_and_client_secret_checks_use_it(
    db: Database, compare_calls: list[tuple[str, str]]
) -> None:
    with db.transaction() as session:
        key = auth.issue_api_key(session=session, account_name="acme").key
        client = oauth.create_client(session=session, account_name="acme", scopes=ALL_SCOPES)
    forged = key[: auth.PREFIX_LENGTH] + "x" * (len(key) - auth.PREFIX_LENGTH)
    with db.transaction() as session:
        assert auth.authenticate_api_key(session=session, presented=key) is not None
        assert auth.authenticate_api_key(session=session, presented=forged) is None
        with pytest.raises(InvalidClient):
            oauth.issue_token(
                session=session,
                client_id=client.client_id,
                client_secret=client.client_secret + "x",
                requested_scope=None,
                ttl_seconds=60,
            )
    # The right key, a forged one with the right prefix, and the wrong client secret.
    assert len(compare_calls) == 3


def _issue(client: TestClient, db: Database) -> dict[str, str]:
    """One of each credential: a key, a revoked key, a client secret and an access token."""
    with db.transaction() as session:
        key = auth.issue_api_key(session=session, account_name="acme").key
        revoked = auth.issue_api_key(session=session, account_name="acme").key
        auth.revoke_api_key(session=session, prefix=revoked[: auth.PREFIX_LENGTH])
        issued = oauth.create_client(session=session, account_name="acme", scopes=ALL_SCOPES)
    response = client.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": issued.client_id,
            "client_secret": issued.client_secret,
        },
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    return {
        "key": key,
        "revoked": revoked,
        "client_id": issued.client_id,
        "secret": issued.client_secret,
        "token": response.json()["access_token"],
    }


def test_secrets_are_stored_only_as_hashes(client: TestClient, db: Database) -> None:
    creds = _issue(client, db)
    secrets = [creds["key"], creds["revoked"], creds["secret"], creds["token"]]
    with db.transaction() as session:
        cells = [
            str(value)
            for table in metadata.sorted_tables
            for row in session.execute(select(table))
            for value in row
        ]
        key_hashes = set(session.scalars(select(metadata.tables["api_keys"].c.key_hash)))
        secret_hashes = set(
            session.scalars(select(metadata.tables["messaging_oauth_clients"].c.secret_hash))
        )
        token_hashes = set(
            session.scalars(select(metadata.tables["messaging_access_tokens"].c.token_hash))
        )
    assert cells
    for secret in secrets:
        assert not [c for c in cells if secret in c or secret[-16:] in c], "stored in clear"
    assert key_hashes == {
        security.hash_secret(creds["key"]),
        security.hash_secret(creds["revoked"]),
    }
    assert secret_hashes == {security.hash_secret(creds["secret"])}
    assert token_hashes == {security.hash_secret(creds["token"])}


# What `_misuse` gets back: only the two right uses succeed.
MISUSE_STATUSES = [200, 401, 401, 401, 401, 404, 415, 200, 401, 401, 404, 401, 400, 400, 401, 400]


def _misuse(send: Callable[..., Any], creds: dict[str, str]) -> list[Any]:
    """Right and wrong uses of every credential; returns every response (none issues a token)."""
    key, token, secret, client_id = (
        creds["key"],
        creds["token"],
        creds["secret"],
        creds["client_id"],
    )
    forged_key = key[: auth.PREFIX_LENGTH] + "A" * 20
    bearer = {"Authorization": f"Bearer {token}"}
    basic = base64.b64encode(f"{client_id}:{secret}x".encode()).decode()
    form = {"grant_type": "client_credentials", "client_id": client_id}
    return [
        send("GET", "/v1/pixel/campaigns", headers={"X-API-Key": key}),
        send("GET", "/v1/pixel/campaigns", headers={"X-API-Key": forged_key}),
        send("GET", "/v1/pixel/campaigns", headers={"X-API-Key": creds["revoked"]}),
        send("GET", "/v1/pixel/campaigns", headers={"X-API-Key": key * 10}),
        send("GET", "/v1/pixel/campaigns", headers={"X-API-Key": token}),
        send("GET", "/v1/pixel/campaigns/999", headers={"X-API-Key": key}),
        send("POST", "/v1/pixel/campaigns", headers={"X-API-Key": key}, content=b"{"),
        send("GET", "/public/v1/campaigns", headers=bearer),
        send("GET", "/public/v1/campaigns", headers={"Authorization": f"Bearer {token}x"}),
        send("GET", "/public/v1/campaigns", headers={"Authorization": f"Bearer {key}"}),
        send("GET", f"/public/v1/campaigns/{'0' * 32}", headers=bearer),
        send("POST", TOKEN_URL, data={**form, "client_secret": secret + "x"}),
        send("POST", TOKEN_URL, data={**form, "client_secret": secret, "scope": "admin"}),
        send("POST", TOKEN_URL, data={"grant_type": "password", "client_secret": secret}),
        send(
            "POST",
            TOKEN_URL,
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
        ),
        send("POST", TOKEN_URL, json={"client_id": client_id, "client_secret": secret}),
    ]


def _leaks(texts: list[str], creds: dict[str, str]) -> list[str]:
    secrets = [creds["key"], creds["revoked"], creds["secret"], creds["token"]]
    return [t for t in texts for s in secrets if s in t or s[-20:] in t]


def test_secrets_never_reach_logs_or_error_bodies(
    app: FastAPI,
    client: TestClient,
    db: Database,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    @app.get("/v1/boom", include_in_schema=False)
    def boom(caller: CurrentCaller) -> None:
        raise RuntimeError("a bug after authentication")

    caplog.set_level("DEBUG")
    creds = _issue(client, db)
    responses = _misuse(client.request, creds)
    responses.append(client.get("/v1/boom", headers={"X-API-Key": creds["key"]}))
    assert [r.status_code for r in responses] == [*MISUSE_STATUSES, 500]

    formatter = json_log_formatter()
    logged = [formatter.format(record) for record in caplog.records]
    assert any("a bug after authentication" in line for line in logged)
    captured = capsys.readouterr()
    bodies = [r.text + json.dumps(dict(r.headers)) for r in responses]
    assert not _leaks([*logged, captured.out, captured.err, *bodies], creds)


@pytest.mark.e2e
def test_live_server_logs_hold_no_secret(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    server = LiveServer(data_dir=data_dir, database_url="", env={"BEACON_LOG_LEVEL": "DEBUG"})
    server.start()
    try:
        assert server.first_key is not None
        db = Database(f"sqlite:///{data_dir / 'beacon.db'}")
        with db.transaction() as session:
            made = oauth.create_client(session=session, account_name="default", scopes=ALL_SCOPES)
            revoked = auth.issue_api_key(session=session, account_name="default").key
            auth.revoke_api_key(session=session, prefix=revoked[: auth.PREFIX_LENGTH])
        db.dispose()
        issued = {"client_id": made.client_id, "client_secret": made.client_secret}
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            token = http.post(
                TOKEN_URL, data={"grant_type": "client_credentials", **issued}
            ).json()["access_token"]
            creds = {
                "key": server.first_key,
                "revoked": revoked,
                "secret": issued["client_secret"],
                "client_id": issued["client_id"],
                "token": token,
            }
            responses = _misuse(http.request, creds)
        assert [r.status_code for r in responses] == MISUSE_STATUSES
        assert process_output(server, creds) == []
    finally:
        if server.process is not None and server.process.poll() is None:
            server.stop()


def process_output(server: LiveServer, creds: dict[str, str]) -> list[str]:
    """Leaks in what the server wrote after its first-start banner (stdout) and in its log."""
    assert server.process is not None and server.process.stdout is not None
    server.process.send_signal(signal.SIGTERM)
    rest_of_stdout = server.process.stdout.read()
    assert server.stop() in (0, -signal.SIGTERM)
    log = server.log_path.read_text()
    assert '"logger": "beacon.access"' in log.replace('":"', '": "')
    return _leaks([rest_of_stdout, log], creds)


def test_unsubscribe_tokens_never_reach_the_access_log(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="beacon.access")
    token = "tok-" + "s3cr3t" * 6
    for path in (f"/u/{token}", f"/public/v1/unsubscribe/{token}"):
        assert client.get(path).status_code == 404
    logged = [json_log_formatter().format(r) for r in caplog.records if r.name == "beacon.access"]
    assert len(logged) == 2
    assert not [line for line in logged if token in line]
    assert any('"/u/[redacted]"' in line for line in logged)


def test_invitation_links_never_reach_the_access_log(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    # The path of an invitation link is the credential: whoever reads it in a log could
    # accept the invitation (choosing the invitee's password) before the invitee does.
    caplog.set_level("INFO", logger="beacon.access")
    token = "inv-" + "s3cr3t" * 6
    assert client.get(f"/app/invite/{token}").status_code == 404
    assert client.post(f"/app/invite/{token}", data={"password": "x"}).status_code == 403
    logged = [json_log_formatter().format(r) for r in caplog.records if r.name == "beacon.access"]
    assert len(logged) == 2
    assert not [line for line in logged if token in line]
    assert all('"/app/invite/[redacted]"' in line for line in logged)
