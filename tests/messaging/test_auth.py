"""OAuth client credentials, scopes, the error envelope and per-scope rate limits."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.messaging.helpers import API, make_audience, make_campaign, make_template
from tests.support import run_cli

from beacon.app import create_app
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.messaging.oauth import service as oauth

TOKEN_URL = f"{API}/oauth/token"
CAMPAIGN = "4130bada-9264-465f-bc0c-a26bebcfcc81"


def _client(db: Database, scopes: str = "campaigns:read") -> oauth.IssuedClient:
    with db.transaction() as session:
        return oauth.create_client(session=session, account_name="acme", scopes=scopes)


def _grant(client: TestClient, **fields: str) -> dict[str, object]:
    response = client.post(TOKEN_URL, data={"grant_type": "client_credentials", **fields})
    return {"status": response.status_code, "body": response.json(), "headers": response.headers}


def test_token_is_issued_for_a_scope_subset(client: TestClient, db: Database) -> None:
    issued = _client(db, "campaigns:read analytics:read")
    result = _grant(
        client,
        client_id=issued.client_id,
        client_secret=issued.client_secret,
        scope="analytics:read",
    )
    assert result["status"] == 200
    body = result["body"]
    assert isinstance(body, dict)
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == "analytics:read"
    assert result["headers"]["cache-control"] == "no-store"  # type: ignore[index]
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    # the token carries only the requested scope
    assert client.get(f"{API}/campaigns", headers=bearer).status_code == 403


def test_http_basic_client_authentication(client: TestClient, db: Database) -> None:
    issued = _client(db)
    basic = base64.b64encode(f"{issued.client_id}:{issued.client_secret}".encode()).decode()
    response = client.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("fields", "status", "error"),
    [
        ({"client_id": "bcl_nope", "client_secret": "x"}, 401, "invalid_client"),
        ({"client_id": "WRONG_SECRET"}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": ""}, 400, "invalid_request"),
        ({"scope": "campaigns:write"}, 400, "invalid_scope"),
        ({"client_secret": ""}, 401, "invalid_client"),
    ],
)
def test_oauth_errors_follow_rfc_6749(
    client: TestClient, db: Database, fields: dict[str, str], status: int, error: str
) -> None:
    issued = _client(db)
    data = {
        "grant_type": "client_credentials",
        "client_id": issued.client_id,
        "client_secret": issued.client_secret,
        **fields,
    }
    if fields.get("client_id") == "WRONG_SECRET":
        data.update(client_id=issued.client_id, client_secret="bcs_wrong")
    response = client.post(TOKEN_URL, data=data)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert set(response.json()) == {"error", "error_description"}


def test_refused_scopes_are_quoted_cut_and_counted(client: TestClient, db: Database) -> None:
    """Each refused scope is named in what RFC 6749 allows an error_description (printable
    ASCII but '"' and '\\'): quoted, cut with '...', at most ten; one that is no scope-token
    is described, not echoed."""
    issued = _client(db)
    scopes = ["o'" + "x" * 3000, 'a"b\\c', "é", *(f"s{i}" for i in range(12))]
    data = {
        "grant_type": "client_credentials",
        "client_id": issued.client_id,
        "client_secret": issued.client_secret,
        "scope": " ".join(scopes),
    }
    response = client.post(TOKEN_URL, data=data)
    assert response.status_code == 400
    description = response.json()["error_description"]
    assert response.json() == {
        "error": "invalid_scope",
        "error_description": "Scope(s) not granted to this client: 'o'"
        + "x" * 98
        + "...' (3002 characters), "
        + "(a scope that is not an RFC 6749 scope-token), " * 2
        + ", ".join(f"'s{i}'" for i in range(7))
        + " and 5 more",
    }
    assert re.fullmatch(r"[\x20\x21\x23-\x5b\x5d-\x7e]+", description)


@pytest.mark.parametrize(
    "body",
    [
        b"grant_type=client_credentials&client_id=a%00b&client_secret=x",  # decoded NUL
        b"grant_type=client_credentials&client_id=a\x00b&client_secret=x",  # raw NUL byte
    ],
)
def test_a_nul_in_the_token_form_is_an_oauth_invalid_request(
    client: TestClient, body: bytes
) -> None:
    # The API's NUL check answered the route in Beacon's envelope (422 VALIDATION_ERROR), not
    # OAuth's (RFC 6749 5.2) as every other failure of the token endpoint is.
    response = client.post(
        TOKEN_URL, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert set(response.json()) == {"error", "error_description"}


def test_token_endpoint_wants_a_form(client: TestClient) -> None:
    response = client.post(TOKEN_URL, json={"grant_type": "client_credentials"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_missing_and_invalid_tokens_are_401(client: TestClient) -> None:
    missing = client.get(f"{API}/campaigns")
    assert missing.status_code == 401
    assert missing.json() == {
        "success": False,
        "error": {
            "code": "UNAUTHENTICATED",
            "message": "Missing bearer token: send Authorization: Bearer <access_token>",
            "details": {},
        },
    }
    assert missing.headers["www-authenticate"] == "Bearer"
    invalid = client.get(f"{API}/campaigns", headers={"Authorization": "Bearer bat_nope"})
    assert invalid.status_code == 401
    assert invalid.json()["error"]["code"] == "UNAUTHENTICATED"
    assert 'error="invalid_token"' in invalid.headers["www-authenticate"]


def test_expired_token_is_401(client: TestClient, db: Database, settings: Settings) -> None:
    settings.messaging_token_ttl_seconds = -1
    issued = _client(db)
    token = _grant(client, client_id=issued.client_id, client_secret=issued.client_secret)
    body = token["body"]
    assert isinstance(body, dict)
    response = client.get(
        f"{API}/campaigns", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert response.status_code == 401


SCOPED_ENDPOINTS = [
    ("GET", "/campaigns", "campaigns:read"),
    ("POST", "/campaigns", "campaigns:write"),
    ("GET", f"/campaigns/{CAMPAIGN}", "campaigns:read"),
    ("PATCH", f"/campaigns/{CAMPAIGN}", "campaigns:write"),
    ("DELETE", f"/campaigns/{CAMPAIGN}", "campaigns:write"),
    ("GET", f"/campaigns/{CAMPAIGN}/summary", "campaigns:read"),
    ("GET", f"/campaigns/{CAMPAIGN}/status", "campaigns:read"),
    ("GET", f"/campaigns/{CAMPAIGN}/metrics", "analytics:read"),
    ("POST", f"/campaigns/{CAMPAIGN}/preflight", "campaigns:read"),
    ("POST", f"/campaigns/{CAMPAIGN}/publish", "campaigns:write"),
    ("POST", f"/campaigns/{CAMPAIGN}/schedule", "campaigns:write"),
    ("DELETE", f"/campaigns/{CAMPAIGN}/schedule", "campaigns:write"),
    ("POST", f"/campaigns/{CAMPAIGN}/send", "campaigns:write"),
    ("POST", f"/campaigns/{CAMPAIGN}/cancel", "campaigns:write"),
    ("GET", f"/campaigns/{CAMPAIGN}/executions", "campaigns:read"),
    ("GET", f"/campaigns/{CAMPAIGN}/executions/exec-{CAMPAIGN}", "campaigns:read"),
    ("GET", f"/campaigns/{CAMPAIGN}/executions/exec-{CAMPAIGN}/recipients", "campaigns:read"),
    ("POST", "/contacts", "audiences:write"),
    ("POST", "/contacts/import", "audiences:write"),
    ("GET", "/contacts", "audiences:read"),
    ("POST", "/segments", "audiences:write"),
    ("GET", "/segments", "audiences:read"),
    ("GET", f"/segments/{CAMPAIGN}", "audiences:read"),
    ("POST", "/templates", "templates:write"),
    ("GET", "/templates", "templates:read"),
    ("GET", f"/templates/{CAMPAIGN}", "templates:read"),
    ("PATCH", f"/templates/{CAMPAIGN}", "templates:write"),
    ("POST", f"/templates/{CAMPAIGN}/render", "templates:read"),
]


def test_each_endpoint_refuses_a_token_without_its_scope(
    client: TestClient, token_for: Callable[..., dict[str, str]]
) -> None:
    everything = set(oauth.SCOPES)
    tokens = {scope: token_for(scopes=" ".join(everything - {scope})) for scope in everything}
    for method, path, scope in SCOPED_ENDPOINTS:
        response = client.request(
            method,
            f"{API}{path}",
            headers={**tokens[scope], "Content-Type": "application/json"},
            content=b"{}",
        )
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] == "INSUFFICIENT_SCOPE"
        assert scope in response.json()["error"]["message"]
        assert response.json()["error"]["details"] == {"requiredScope": scope}
        assert response.headers["www-authenticate"] == (
            f'Bearer error="insufficient_scope", scope="{scope}"'
        )


def test_revoked_client_tokens_stop_working(client: TestClient, db: Database) -> None:
    issued = _client(db)
    token = _grant(client, client_id=issued.client_id, client_secret=issued.client_secret)["body"]
    assert isinstance(token, dict)
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert client.get(f"{API}/campaigns", headers=bearer).status_code == 200
    with db.transaction() as session:
        assert oauth.revoke_client(session=session, client_id=issued.client_id)
        assert not oauth.revoke_client(session=session, client_id=issued.client_id)
    assert client.get(f"{API}/campaigns", headers=bearer).status_code == 401
    again = _grant(client, client_id=issued.client_id, client_secret=issued.client_secret)
    assert again["status"] == 401


def test_clients_cli_create_list_revoke(tmp_path: Path) -> None:
    env = {"BEACON_DATA_DIR": str(tmp_path / "var"), "BEACON_DATABASE_URL": ""}
    result = run_cli(
        "clients", "create", "--account", "acme", "--scopes", "campaigns:read", env=env
    )
    assert result.returncode == 0, result.stderr
    credentials = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(credentials) == {"client_id", "client_secret"}
    secret = credentials["client_secret"].encode()
    assert secret not in (tmp_path / "var" / "beacon.db").read_bytes(), "secrets are stored hashed"
    listed = run_cli("clients", "list", env=env)
    assert credentials["client_id"] in listed.stdout and "campaigns:read" in listed.stdout
    assert credentials["client_secret"] not in listed.stdout
    assert run_cli("clients", "revoke", credentials["client_id"], env=env).returncode == 0
    assert run_cli("clients", "revoke", credentials["client_id"], env=env).returncode == 1
    bad = run_cli("clients", "create", "--account", "acme", "--scopes", "campaigns:delete", env=env)
    assert bad.returncode == 2 and "unknown scope" in bad.stderr


def test_validation_errors_use_the_envelope(client: TestClient, auth: dict[str, str]) -> None:
    bad_uuid = client.get(f"{API}/campaigns/not-a-uuid", headers=auth)
    assert bad_uuid.status_code == 400
    assert bad_uuid.json() == {
        "success": False,
        "error": {
            "code": "BAD_REQUEST",
            "message": "Invalid path parameter 'campaignId': expected a UUID",
            "details": {"field": "campaignId"},
        },
    }
    bad_limit = client.get(f"{API}/campaigns?limit=101", headers=auth)
    assert bad_limit.status_code == 422
    assert bad_limit.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "'limit'" in bad_limit.json()["error"]["message"]
    bad_sort = client.get(f"{API}/campaigns?sortBy=size", headers=auth)
    assert bad_sort.status_code == 422 and "'sortBy'" in bad_sort.json()["error"]["message"]
    malformed = client.post(
        f"{API}/campaigns", headers={**auth, "Content-Type": "application/json"}, content=b"{"
    )
    assert malformed.status_code == 400 and malformed.json()["success"] is False
    missing = client.post(f"{API}/campaigns", headers=auth, json={"channel": "email"})
    assert missing.status_code == 400
    assert missing.json()["error"]["message"] == "Missing required parameter 'name'"
    bad_channel = client.post(
        f"{API}/campaigns", headers=auth, json={"name": "x", "channel": "fax"}
    )
    assert bad_channel.status_code == 422 and "'channel'" in bad_channel.json()["error"]["message"]
    unknown = client.post(
        f"{API}/campaigns", headers=auth, json={"name": "x", "channel": "sms", "foo": 1}
    )
    assert unknown.status_code == 400 and "'foo'" in unknown.json()["error"]["message"]
    not_json = client.post(
        f"{API}/campaigns", headers={**auth, "Content-Type": "text/plain"}, content=b"x"
    )
    assert (
        not_json.status_code == 415 and not_json.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    )
    no_route = client.get(f"{API}/nothing", headers=auth)
    assert no_route.status_code == 404 and no_route.json()["error"]["code"] == "NOT_FOUND"


def test_rate_limits_per_client_and_scope_class(settings: Settings, db: Database) -> None:
    settings.messaging_read_rate_limit = "3/minute"
    settings.messaging_analytics_rate_limit = "1/minute"
    app = create_app(settings, run_worker=False)
    app.state.db.dispose()
    app.state.db = db
    with TestClient(app) as client:
        issued = _client(db, "campaigns:read analytics:read campaigns:write")
        token = _grant(client, client_id=issued.client_id, client_secret=issued.client_secret)[
            "body"
        ]
        assert isinstance(token, dict)
        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        campaign = make_campaign(client, bearer, channel="sms")
        first = client.get(f"{API}/campaigns", headers=bearer)
        assert first.headers["x-ratelimit-limit"] == "3"
        assert first.headers["x-ratelimit-remaining"] == "2"
        for _ in range(2):
            assert client.get(f"{API}/campaigns", headers=bearer).status_code == 200
        limited = client.get(f"{API}/campaigns", headers=bearer)
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "RATE_LIMITED"
        assert int(limited.headers["retry-after"]) >= 1
        # analytics has its own quota, writes theirs
        metrics = f"{API}/campaigns/{campaign['campaignId']}/metrics"
        assert client.get(metrics, headers=bearer).status_code == 200
        assert client.get(metrics, headers=bearer).status_code == 429
        assert (
            client.post(
                f"{API}/campaigns", headers=bearer, json={"name": "x", "channel": "sms"}
            ).status_code
            == 201
        )


def test_rendering_a_stored_contact_needs_audiences_read_too(
    client: TestClient, auth: dict[str, str], token_for: Callable[..., dict[str, str]]
) -> None:
    """A template reader may preview inline data, not read a stored contact through a render."""
    make_audience(client, auth, contacts=1)
    template = make_template(client, auth)
    contact = client.get(f"{API}/contacts", headers=auth).json()["data"][0]
    render = f"{API}/templates/{template}/render"
    templates_only = token_for(scopes="templates:read")
    refused = client.post(render, headers=templates_only, json={"contactId": contact["id"]})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "INSUFFICIENT_SCOPE"
    assert refused.json()["error"]["details"] == {"requiredScope": "audiences:read"}
    assert "Ada0" not in refused.text and "/u/" not in refused.text
    inline = client.post(
        render,
        headers=templates_only,
        json={"contact": {"email": "z@example.com", "firstName": "Zed"}},
    )
    assert inline.status_code == 200 and "Hi Zed" in inline.json()["data"]["rendered"]["html"]
    both = token_for(scopes="templates:read audiences:read")
    allowed = client.post(render, headers=both, json={"contactId": contact["id"]})
    assert allowed.status_code == 200, allowed.text
    assert "Hi Ada0" in allowed.json()["data"]["rendered"]["html"]
