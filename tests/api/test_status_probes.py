"""Every error status an operation documents is reachable, in its family's envelope.

For each operation in Beacon's own OpenAPI document, each documented client-error status is
provoked the generic way (no credentials, a scope the operation does not have, an id that
does not exist, a malformed or mistyped body, a body over the limit, a quota of one request)
and must answer exactly that status. Success codes, 409 and 503 depend on a resource's state
and are reached by each domain's own tests (and the fuzzer checks every response conforms).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.support import bearer_token

from beacon.app import create_app
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.messaging.oauth import service as oauth

MAX_BODY = 4096
DOCUMENT = create_app(Settings(database_url="sqlite://", worker_in_process=False)).openapi()
# Provoked here; the rest (2xx, 409, 503) depend on a resource's state.
GENERIC = {"400", "401", "403", "404", "413", "415", "422", "429"}
# Operations whose 404 is about a resource named in the body, not in the path.
BODY_404 = {
    ("POST", "/v1/pixel/events"): {
        "campaign_id": 999_999,
        "events": [{"url": "https://a.example/"}],
    },
    ("POST", "/v1/pixel/reports/campaign"): {
        "campaign_id": 999_999,
        "start_date": "2026-01-01",
        "end_date": "2026-01-02",
    },
    ("POST", "/v1/pixel/reports/publisher"): {
        "campaign_id": 999_999,
        "start_date": "2026-01-01",
        "end_date": "2026-01-02",
    },
}
TOKEN_URL = "/public/v1/oauth/token"


def _operations() -> Iterator[Any]:
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            statuses = sorted(set(operation["responses"]) & GENERIC)
            if statuses:
                yield pytest.param(method.upper(), path, operation, id=f"{method.upper()} {path}")


def _app(settings: Settings, db: Database, **changes: Any) -> FastAPI:
    application = create_app(settings.model_copy(update=changes), run_worker=False)
    application.state.db.dispose()
    application.state.db = db
    return application


class Probe:
    """Builds the requests that provoke each status for one operation."""

    def __init__(self, method: str, path: str, operation: dict[str, Any], creds: Creds) -> None:
        self.method, self.path, self.operation, self.creds = method, path, operation, creds
        self.messaging = path.startswith("/public/v1") or path.startswith("/u/")
        content = operation.get("requestBody", {}).get("content", {})
        self.body_types = list(content)
        if path == "/public/v1/contacts/import":  # reads the raw body: CSV or multipart
            self.body_types = ["text/csv"]

    def url(self, *, invalid: bool = False) -> str:
        url = self.path
        for parameter in self.operation.get("parameters", []):
            if parameter["in"] != "path":
                continue
            schema = parameter["schema"]
            if schema.get("type") == "integer":
                value = "0" if invalid else "999999"
            elif schema.get("format") == "uuid":
                value = "not-a-uuid" if invalid else str(uuid.uuid4())
            elif parameter["name"] == "executionId":
                value = "exec-?" if invalid else f"exec-{uuid.uuid4()}"
            else:  # opaque tokens
                value = "x" * 600 if invalid else f"missing-{uuid.uuid4().hex}"
            url = url.replace("{" + parameter["name"] + "}", value)
        return url

    def has_path_ids(self) -> bool:
        return any(p["in"] == "path" for p in self.operation.get("parameters", []))

    def headers(self, *, scope: str | None = None) -> dict[str, str]:
        if self.path == TOKEN_URL or self.operation.get("security") is None:
            return {}
        if self.messaging:
            return {"Authorization": f"Bearer {self.creds.token(scope)}"}
        return {"X-API-Key": self.creds.api_key}

    def unrelated_scope(self) -> str:
        # a real scope that is none of the ones this operation accepts
        return (
            "campaigns:read" if self.path.startswith("/public/v1/templates") else "templates:read"
        )


class Creds:
    def __init__(self, client: TestClient, db: Database, api_key: str) -> None:
        self.client, self.db, self.api_key = client, db, api_key
        self._tokens: dict[str | None, str] = {}

    def token(self, scope: str | None) -> str:
        if scope not in self._tokens:
            scopes = scope or " ".join(oauth.SCOPES)
            self._tokens[scope] = bearer_token(self.client, self.db, scopes=scopes)
        return self._tokens[scope]


def _assert_documented_body(operation: dict[str, Any], status: str, response: Any) -> None:
    """The body is the one the document names for this status: its envelope, or HTML."""
    content = operation["responses"][status].get("content", {})
    if "text/html" in content:
        assert response.headers["content-type"].startswith("text/html"), response.text
        return
    ref = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    body = response.json()
    if ref == "V1Error":
        assert set(body) == {"error", "message"} and body["message"], body
    elif ref == "PublicError":
        assert body["success"] is False and body["error"]["code"] and body["error"]["message"]
    elif ref == "OAuthErrorBody":
        assert body["error"] and "error_description" in body, body
    else:
        raise AssertionError(f"unexpected error schema {ref} for {status}")


@pytest.mark.parametrize(("method", "path", "operation"), list(_operations()))
def test_every_documented_error_status_is_reachable(
    method: str,
    path: str,
    operation: dict[str, Any],
    settings: Settings,
    db: Database,
    api_key: str,
) -> None:
    application = _app(settings, db, max_body_bytes=MAX_BODY)
    with TestClient(application, raise_server_exceptions=False) as client:
        probe = Probe(method, path, operation, Creds(client, db, api_key))
        documented = sorted(set(operation["responses"]) & GENERIC - {"429"})
        answers: dict[str, int] = {}
        for status in documented:
            answers[status] = _provoke(status, probe, client)
            if answers[status] == int(status):
                _assert_documented_body(operation, status, _last[0])
    if "429" in operation["responses"]:
        answers["429"] = _provoke_429(probe, settings, db)
    wrong = {s: got for s, got in answers.items() if got != int(s)}
    assert not wrong, f"{method} {path}: documented status -> answered {wrong}"


_last: list[Any] = [None]


def _send(client: TestClient, probe: Probe, url: str, **kwargs: Any) -> int:
    response = client.request(probe.method, url, **kwargs)
    _last[0] = response
    return response.status_code


def _json_body_kind(probe: Probe) -> str | None:
    if "application/json" in probe.body_types:
        return "application/json"
    if probe.path == "/public/v1/contacts/import":
        return "text/csv"
    return probe.body_types[0] if probe.body_types else None


def _provoke(status: str, probe: Probe, client: TestClient) -> int:
    provokers: dict[str, Callable[[Probe, TestClient], int]] = {
        "400": _provoke_400,
        "401": _provoke_401,
        "403": _provoke_403,
        "404": _provoke_404,
        "413": _provoke_413,
        "415": _provoke_415,
        "422": _provoke_422,
    }
    return provokers[status](probe, client)


def _provoke_400(probe: Probe, client: TestClient) -> int:
    headers = probe.headers()
    if probe.path == TOKEN_URL:
        return _send(client, probe, TOKEN_URL, data={"grant_type": "password"})
    kind = _json_body_kind(probe)
    if kind == "application/json":
        body = b'{"name": '  # malformed JSON
    elif kind:
        body = b"\xff\xfe not text"
    elif probe.has_path_ids():
        return _send(client, probe, probe.url(invalid=True), headers=headers)
    else:  # a query parameter of the wrong type
        return _send(client, probe, probe.url(), params={"limit": "many"}, headers=headers)
    headers["Content-Type"] = f"{kind}; charset=utf-8"
    return _send(client, probe, probe.url(), content=body, headers=headers)


def _provoke_401(probe: Probe, client: TestClient) -> int:
    if probe.path == TOKEN_URL:
        return _send(
            client,
            probe,
            TOKEN_URL,
            data={"grant_type": "client_credentials", "client_id": "bcl_x", "client_secret": "no"},
        )
    bad = {"Authorization": "Bearer nope"} if probe.messaging else {"X-API-Key": "bk_nope"}
    return _send(client, probe, probe.url(), **_with_body(probe, bad))


def _with_body(probe: Probe, headers: dict[str, str]) -> dict[str, Any]:
    """Request arguments carrying a well-formed body of the operation's media type, if any."""
    kind = _json_body_kind(probe)
    if kind == "application/json":
        return {"headers": headers, "json": {}}
    if kind:
        return {"headers": {**headers, "Content-Type": kind}, "content": b"email\n"}
    return {"headers": headers}


def _provoke_403(probe: Probe, client: TestClient) -> int:
    headers = probe.headers(scope=probe.unrelated_scope())
    return _send(client, probe, probe.url(), **_with_body(probe, headers))


def _provoke_404(probe: Probe, client: TestClient) -> int:
    headers = probe.headers()
    body = BODY_404.get((probe.method, probe.path))
    if body is not None:
        return _send(client, probe, probe.url(), json=body, headers=headers)
    assert probe.has_path_ids(), f"{probe.method} {probe.path} documents 404 without any id"
    kwargs: dict[str, Any] = {}
    if "application/json" in probe.body_types:
        kwargs["json"] = _minimal_body(probe)
    return _send(client, probe, probe.url(), headers=headers, **kwargs)


def _minimal_body(probe: Probe) -> dict[str, Any]:
    # A body that passes validation for the operations whose 404 needs one.
    if probe.path.endswith("/render"):
        return {"contact": {"email": "a@example.com"}}
    if probe.path.endswith("/schedule"):
        return {"sendAt": "2030-01-01T10:00:00", "timezone": "UTC"}
    if probe.path.startswith("/v1/pixel/campaigns"):
        return {"name": "renamed"}
    if probe.path.startswith("/v1/clsfy/segments"):
        return {"name": "renamed"}
    return {"name": "renamed"}


def _provoke_413(probe: Probe, client: TestClient) -> int:
    kind = _json_body_kind(probe) or "application/json"
    payload = b'{"pad": "' + b"x" * (MAX_BODY * 2) + b'"}'
    headers = {**probe.headers(), "Content-Type": kind}
    return _send(client, probe, probe.url(), content=payload, headers=headers)


def _provoke_415(probe: Probe, client: TestClient) -> int:
    headers = {**probe.headers(), "Content-Type": "application/xml"}
    return _send(client, probe, probe.url(), content=b"<a/>", headers=headers)


def _provoke_422(probe: Probe, client: TestClient) -> int:
    # Well-formed but invalid: text no database can store (U+0000), refused by every operation.
    headers = probe.headers()
    return _send(client, probe, probe.url(), params={"q": "a\x00b"}, **_with_body(probe, headers))


def _provoke_429(probe: Probe, settings: Settings, db: Database) -> int:
    quota = "1/minute"
    application = _app(
        settings,
        db,
        rate_limit=quota,
        anonymous_rate_limit=quota,
        messaging_read_rate_limit=quota,
        messaging_analytics_rate_limit=quota,
        messaging_write_rate_limit=quota,
    )
    with TestClient(application, raise_server_exceptions=False) as client:
        creds = Creds(client, db, probe.creds.api_key)
        fresh = Probe(probe.method, probe.path, probe.operation, creds)
        arguments = _with_body(fresh, fresh.headers())
        statuses = [_send(client, fresh, fresh.url(), **arguments) for _ in range(3)]
    return 429 if 429 in statuses else statuses[-1]
