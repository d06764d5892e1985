"""An undeclared query parameter is a 400 in the family's envelope, like an unknown body field."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.support import bearer_token

from beacon.core.db import Database


def test_unknown_query_parameter_is_400_on_v1(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/v1/pixel/campaigns", params={"foo": "bar"}, headers=headers)
    assert response.status_code == 400
    assert response.json() == {
        "error": "bad_request",
        "message": "Unknown parameter 'foo' (this endpoint takes: no query parameters)",
    }


def test_typo_of_a_declared_parameter_names_the_real_ones(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.get("/v1/clsfy/inventory?ofset=10", headers=headers)
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Unknown parameter 'ofset' (this endpoint takes: limit, offset)"
    )
    assert client.get("/v1/clsfy/inventory?offset=0&limit=5", headers=headers).status_code == 200


def _stats_path(client: TestClient, headers: dict[str, str]) -> str:
    """The stats path of a new pixel campaign (its query is a model of declared fields)."""
    created = client.post(
        "/v1/pixel/campaigns", json={"name": "q", "use_case": "other"}, headers=headers
    ).json()
    return f"/v1/pixel/campaigns/{created['id']}/stats"


def test_query_model_fields_are_declared(client: TestClient, headers: dict[str, str]) -> None:
    stats = _stats_path(client, headers)
    assert client.get(f"{stats}?interval=day&top=3", headers=headers).status_code == 200
    response = client.get(f"{stats}?topp=3", headers=headers)
    assert response.status_code == 400
    assert response.json()["message"].startswith("Unknown parameter 'topp'")


def test_unknown_query_parameter_is_400_on_public_v1(client: TestClient, db: Database) -> None:
    auth = {"Authorization": f"Bearer {bearer_token(client, db)}"}
    assert client.get("/public/v1/campaigns?limit=5", headers=auth).status_code == 200
    response = client.get("/public/v1/campaigns?foo=bar", headers=auth)
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert body["error"]["message"].startswith("Unknown parameter 'foo'")


def test_exempt_paths_still_take_any_query(client: TestClient, headers: dict[str, str]) -> None:
    # The console and the pixel collector keep their own parameters.
    assert client.get("/px/1/x.gif?anything=1&cb=2").status_code == 200
    assert client.get("/app/login?next=/app&utm_source=mail").status_code == 200
    # The unsubscribe page answers about its token, never about the parameter.
    assert client.get("/u/not-a-token?utm_source=mail").status_code == 404
    # The token endpoint answers per RFC 6749 about the client, not the parameter.
    token = client.post("/public/v1/oauth/token?foo=1", data={"grant_type": "client_credentials"})
    assert token.json()["error"] == "invalid_client"


def test_a_parameter_of_one_value_given_twice_is_400(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.get("/v1/clsfy/inventory?limit=10&limit=20", headers=headers)
    assert response.status_code == 400
    assert response.json() == {
        "error": "bad_request",
        "message": "Parameter 'limit' is given 2 times; it takes one value",
    }


def test_a_list_parameter_may_repeat(client: TestClient, headers: dict[str, str]) -> None:
    stats = _stats_path(client, headers)
    assert client.get(f"{stats}?device=desktop&device=mobile", headers=headers).status_code == 200
    repeated = client.get(f"{stats}?interval=day&interval=week", headers=headers)
    assert repeated.status_code == 400
    assert repeated.json()["message"].startswith("Parameter 'interval' is given 2 times")
