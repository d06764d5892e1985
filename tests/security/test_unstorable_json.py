"""Every JSON body of every API family refuses what no database stores — a lone UTF-16
surrogate, a number that overflows (``1e400``), ``NaN`` — with a 422 naming the field, on
SQLite and PostgreSQL, and nothing is stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from beacon.core.jsonbody import API_PREFIXES, StrictJSONRoute, api_routes, require_strict_json

LITERALS = [
    (b'"\\udc00"', "lone UTF-16 surrogate"),
    (b"1e400", "1e400 is not a finite number"),
    (b"NaN", "NaN is not a finite number"),
]


def _send(client: TestClient, method: str, path: str, headers: dict[str, str], raw: bytes) -> Any:
    headers = {**headers, "Content-Type": "application/json"}
    return client.request(method, path, headers=headers, content=raw)


def _count(client: TestClient, path: str, headers: dict[str, str], key: str) -> int:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    if isinstance(body, list):
        return len(body)
    return len(body[key]) if key in body else int(body["pagination"]["total"])


def _assert_v1_refused(response: Any, field: str, problem: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_error"
    assert f"Invalid value for '{field}': " in body["message"], body
    assert problem in body["message"]


@pytest.mark.parametrize(("literal", "problem"), LITERALS)
def test_measure_refuses_unstorable_values(
    client: TestClient, headers: dict[str, str], literal: bytes, problem: str
) -> None:
    raw = b'{"name": "EV", "use_case": "campaign_reporting", "description": %s}' % literal
    response = _send(client, "POST", "/v1/pixel/campaigns", headers, raw)
    _assert_v1_refused(response, "description", problem)
    assert client.get("/v1/pixel/campaigns", headers=headers).json() == []
    created = client.post(
        "/v1/pixel/campaigns",
        headers=headers,
        json={"name": "EV", "use_case": "campaign_reporting"},
    )
    assert created.status_code == 201
    campaign = created.json()["id"]
    update = _send(
        client, "PUT", f"/v1/pixel/campaigns/{campaign}", headers, b'{"name": %s}' % literal
    )
    _assert_v1_refused(update, "name", problem)
    stored = client.get(f"/v1/pixel/campaigns/{campaign}", headers=headers).json()
    assert stored["name"] == "EV"


@pytest.mark.parametrize(("literal", "problem"), LITERALS)
def test_understand_refuses_unstorable_values(
    client: TestClient, headers: dict[str, str], literal: bytes, problem: str
) -> None:
    raw = b'{"urls": ["https://example.com/a", %s]}' % literal
    response = _send(client, "POST", "/v1/clsfy/classify/batch", headers, raw)
    _assert_v1_refused(response, "urls[1]", problem)
    response = _send(client, "POST", "/v1/clsfy/classify", headers, b'{"text": %s}' % literal)
    _assert_v1_refused(response, "text", problem)


@pytest.mark.parametrize(("literal", "problem"), LITERALS)
def test_activate_refuses_unstorable_values(
    client: TestClient, headers: dict[str, str], literal: bytes, problem: str
) -> None:
    raw = b'{"name": "s", "rules": {"keywords": ["golf", %s]}}' % literal
    response = _send(client, "POST", "/v1/clsfy/segments", headers, raw)
    _assert_v1_refused(response, "rules.keywords[1]", problem)
    assert _count(client, "/v1/clsfy/segments", headers, "data") == 0
    # bodies read by hand (JSON or a text upload) go through the same parser
    raw = b'{"urls": ["https://example.com/a", %s]}' % literal
    response = _send(client, "POST", "/v1/clsfy/inventory", headers, raw)
    _assert_v1_refused(response, "urls[1]", problem)
    raw = b'{"batch_id": "b1", "rows": [{"impressions": %s}]}' % literal
    response = _send(client, "POST", "/v1/clsfy/deliveries", headers, raw)
    # a delivery row's bad value is told in the batch's documented words (docs/activate.md)
    assert response.status_code == 422, response.text
    assert response.json()["message"].startswith(
        "Batch rejected, nothing stored: row 1: 'impressions' "
    )
    assert problem in response.json()["message"]


@pytest.mark.parametrize(("literal", "problem"), LITERALS)
def test_orchestrate_refuses_unstorable_values(
    client: TestClient,
    bearer_for: Callable[..., dict[str, str]],
    literal: bytes,
    problem: str,
) -> None:
    auth = bearer_for("acme")
    raw = b'{"name": "t", "channel": "sms", "content": {"body": %s}}' % literal
    response = _send(client, "POST", "/public/v1/templates", auth, raw)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"] == {"field": "content.body"} and problem in error["message"]
    assert _count(client, "/public/v1/templates", auth, "data") == 0
    raw = b'{"name": %s, "channel": "email"}' % literal
    response = _send(client, "POST", "/public/v1/campaigns", auth, raw)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"] == {"field": "name"}
    assert _count(client, "/public/v1/campaigns", auth, "data") == 0


class _Probe(BaseModel):
    value: float


def test_every_json_body_route_parses_strictly(app: FastAPI) -> None:
    """Strict bodies are the application's rule: every route of every API family is strict,
    inside included routers too (``app.routes`` alone lists only the app's own two)."""
    routes = [route for route in api_routes(app.routes) if route.path.startswith(API_PREFIXES)]
    assert len(routes) >= 60
    assert [r.path for r in routes if not isinstance(r, StrictJSONRoute)] == []


def test_an_app_with_a_lax_json_route_is_refused() -> None:
    lax = APIRouter(prefix="/v1/probe")

    @lax.post("")
    def echo(body: _Probe) -> dict[str, float]:
        return {"value": body.value}

    app = FastAPI()
    app.include_router(lax)
    with pytest.raises(TypeError, match=r"\['POST'\] /v1/probe"):
        require_strict_json(app.routes)
    strict = APIRouter(prefix="/v1/probe", route_class=StrictJSONRoute)
    strict.add_api_route("", echo, methods=["POST"])
    app = FastAPI()
    app.include_router(strict)
    require_strict_json(app.routes)
