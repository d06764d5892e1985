"""Input no database can store answers 422 naming the field, on SQLite and PostgreSQL, and
nothing is stored: lone surrogates, non-finite numbers, blank names, oversized rule lists."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.messaging.helpers import API

CONTACT = b'{"contacts": [{"email": "a@example.com", "attributes": {"x": %s}}]}'
SEGMENT = b'{"name": "s", "rules": {"field": "attributes.x", "op": "in", "value": ["a", %s]}}'


def _post(client: TestClient, auth: dict[str, str], path: str, raw: bytes) -> Any:
    headers = {**auth, "Content-Type": "application/json"}
    return client.post(f"{API}{path}", headers=headers, content=raw)


def _stored(client: TestClient, auth: dict[str, str], path: str) -> int:
    response = client.get(f"{API}{path}", headers=auth)
    assert response.status_code == 200, response.text
    return int(response.json()["pagination"]["total"])


@pytest.mark.parametrize(
    ("literal", "problem"),
    [
        (b'"\\udc00"', "lone UTF-16 surrogate"),
        (b'"ok \\ud800 then"', "lone UTF-16 surrogate"),
        (b"1e400", "1e400 is not a finite number"),
        (b"-1e400", "-1e400 is not a finite number"),
        (b"NaN", "NaN is not a finite number"),
        (b"Infinity", "Infinity is not a finite number"),
    ],
)
def test_unstorable_values_are_refused_naming_the_field(
    client: TestClient, auth: dict[str, str], literal: bytes, problem: str
) -> None:
    contact = _post(client, auth, "/contacts", CONTACT % literal)
    assert contact.status_code == 422, contact.text
    error = contact.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "'contacts[0].attributes.x'" in error["message"] and problem in error["message"]
    assert error["details"] == {"field": "contacts[0].attributes.x"}
    segment = _post(client, auth, "/segments", SEGMENT % literal)
    assert segment.status_code == 422, segment.text
    assert "'rules.value[1]'" in segment.json()["error"]["message"]
    assert _stored(client, auth, "/contacts") == 0
    assert _stored(client, auth, "/segments") == 0


def test_a_surrogate_key_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    raw = b'{"contacts": [{"email": "a@example.com", "attributes": {"\\udc00": 1}}]}'
    response = _post(client, auth, "/contacts", raw)
    assert response.status_code == 422
    assert "'contacts[0].attributes'" in response.json()["error"]["message"]
    assert _stored(client, auth, "/contacts") == 0


def test_valid_escapes_and_numbers_still_work(client: TestClient, auth: dict[str, str]) -> None:
    """A surrogate pair is one character (an emoji); big finite numbers are numbers."""
    raw = CONTACT % b'"\\ud83d\\ude00"'
    assert _post(client, auth, "/contacts", raw).status_code == 200
    raw = b'{"contacts": [{"email": "b@example.com", "attributes": {"x": 1e300, "y": -0.5}}]}'
    assert _post(client, auth, "/contacts", raw).status_code == 200
    listed = client.get(f"{API}/contacts", headers=auth).json()["data"]
    attributes = {c["email"]: c["attributes"] for c in listed}
    assert attributes["a@example.com"] == {"x": "\U0001f600"}
    # PostgreSQL's jsonb keeps 1e300 as an exact numeric: compare as floats
    assert float(attributes["b@example.com"]["x"]) == 1e300
    assert attributes["b@example.com"]["y"] == -0.5


BLANKS = ["", "   ", "\u00a0\u00a0", "\u3000", "\u2003\u00a0\n", "\u200b", "\ufeff\u00a0"]


@pytest.mark.parametrize("blank", BLANKS)
def test_blank_names_are_refused(client: TestClient, auth: dict[str, str], blank: str) -> None:
    """Only (Unicode) whitespace or invisible characters is no name."""
    bodies = {
        "/segments": {
            "name": blank,
            "rules": {"field": "attributes.plan", "op": "equals", "value": "pro"},
        },
        "/templates": {"name": blank, "channel": "sms", "content": {"body": "Hi. Reply STOP"}},
        "/campaigns": {"name": blank, "channel": "email"},
    }
    for path, body in bodies.items():
        response = client.post(f"{API}{path}", headers=auth, json=body)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"]["message"].startswith("Invalid value for 'name': ")
        assert _stored(client, auth, path) == 0


def test_names_keep_their_inner_spaces(client: TestClient, auth: dict[str, str]) -> None:
    body = {"name": "\u00a0Spring\u00a0list ", "rules": {"field": "email", "op": "exists"}}
    response = client.post(f"{API}/segments", headers=auth, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["data"]["name"] == "Spring\u00a0list"
