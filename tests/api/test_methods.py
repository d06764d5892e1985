"""HEAD is served wherever GET is (RFC 9110: the GET's status and headers, no content), and a
405 names in `Allow` every method the path serves, across the routers the app includes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize("path", ["/healthz", "/v1/pixel/campaigns", "/app/login"])
def test_head_is_get_without_the_content(
    client: TestClient, headers: dict[str, str], path: str
) -> None:
    got = client.get(path, headers=headers)
    head = client.head(path, headers=headers)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == str(len(got.content))


def test_head_of_an_unknown_path_is_404_without_content(client: TestClient) -> None:
    head = client.head("/no/such/path")
    assert head.status_code == 404 and head.content == b""


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/v1/pixel/campaigns", "GET, HEAD, POST"),
        ("PATCH", "/v1/pixel/campaigns/1", "GET, HEAD, PUT"),
        ("DELETE", "/public/v1/campaigns", "GET, HEAD, POST"),
        ("POST", "/healthz", "GET, HEAD"),
    ],
)
def test_a_405_names_every_method_of_the_path(
    client: TestClient, headers: dict[str, str], method: str, path: str, allowed: str
) -> None:
    refused = client.request(method, path, headers=headers)
    assert refused.status_code == 405, refused.text
    assert refused.headers["allow"] == allowed


@pytest.mark.parametrize(
    ("path", "bare"),
    [("/v1/pixel/campaigns/", "/v1/pixel/campaigns"), ("/healthz/", "/healthz")],
)
def test_a_trailing_slash_is_a_404_naming_the_path_without_it(
    client: TestClient, headers: dict[str, str], path: str, bare: str
) -> None:
    """Not Starlette's empty 307 to an absolute http:// URL (a downgrade behind TLS)."""
    response = client.get(path, headers=headers, follow_redirects=False)
    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "message": f"No route matches GET {path} (without the trailing slash: {bare})",
    }


def test_the_public_family_says_it_in_its_envelope(client: TestClient) -> None:
    response = client.post("/public/v1/campaigns/", json={}, follow_redirects=False)
    assert response.status_code == 404
    assert response.json()["error"]["message"] == (
        "No route matches POST /public/v1/campaigns/ (without the trailing slash: "
        "/public/v1/campaigns)"
    )
