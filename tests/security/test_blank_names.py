"""One "not blank" rule (core.text) for every family's names: only (Unicode) whitespace,
control or invisible characters is no name, and the OpenAPI document states the same rule."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from beacon.core.text import NON_BLANK_PATTERN, is_blank

FILLERS = {0x115F, 0x1160, 0x3164, 0xFFA0}

BLANKS = ["", " \t", "\u00a0\u00a0", "\u3000", "\u2003\u00a0\n", "\u200b", "\ufeff\u00a0", "\u3164"]


@pytest.mark.parametrize("blank", BLANKS)
def test_blank_names_are_refused_in_every_family(
    client: TestClient,
    headers: dict[str, str],
    bearer_for: Callable[..., dict[str, str]],
    blank: str,
) -> None:
    pixel = {"name": blank, "use_case": "campaign_reporting"}
    response = client.post("/v1/pixel/campaigns", headers=headers, json=pixel)
    assert response.status_code == 422, response.text
    assert response.json()["message"] == "Invalid value for 'name': must not be empty"
    assert client.get("/v1/pixel/campaigns", headers=headers).json() == []
    created = client.post(
        "/v1/pixel/campaigns", headers=headers, json={**pixel, "name": "\u00a0EV "}
    )
    assert created.status_code == 201 and created.json()["name"] == "EV"
    campaign = created.json()["id"]
    update = client.put(f"/v1/pixel/campaigns/{campaign}", headers=headers, json={"name": blank})
    assert update.status_code == 422, update.text
    segment = {"name": blank, "rules": {"keywords": ["golf"]}}
    response = client.post("/v1/clsfy/segments", headers=headers, json=segment)
    assert response.status_code == 422, response.text
    assert response.json()["message"] == "Invalid value for 'name': must not be empty"
    auth = bearer_for("acme")
    response = client.post(
        "/public/v1/campaigns", headers=auth, json={"name": blank, "channel": "sms"}
    )
    assert response.status_code == 422, response.text


def test_the_documented_pattern_is_the_rule(app: FastAPI) -> None:
    """The rule is Unicode's own classes (not a list kept by hand), and every name a request
    sets carries it in the OpenAPI document, so a client validating there agrees with us."""
    for cp in range(0x10000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        invisible = unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp") or ch.isspace()
        if invisible:
            assert is_blank(ch), hex(cp)
        elif unicodedata.category(ch).startswith(("L", "N", "P")) and cp not in FILLERS:
            assert not is_blank(ch), hex(cp)
    schemas = app.openapi()["components"]["schemas"]
    documented = 0
    for key, schema in schemas.items():
        name = schema.get("properties", {}).get("name")
        if name is None or not key.endswith(("Create", "Update")):
            continue
        text = next(s for s in name.get("anyOf", [name]) if s.get("type") == "string")
        assert text["pattern"] == NON_BLANK_PATTERN and text["minLength"] == 1, key
        documented += 1
    assert documented >= 9  # pixel, activation and messaging campaigns, segments, templates
