"""A 405 names in `Allow` every method the path serves, across the routers the app includes;
the API's GET routes do not answer HEAD (the health probes do); a trailing slash is a 404
naming the path without it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


def test_head_never_runs_a_get_that_acts(client: TestClient) -> None:
    """Mail scanners send HEAD to every link of a message: HEAD on an email's unsubscribe link
    is refused, never served as its GET (no GET acts there now, but none may by accident)."""
    refused = client.head("/u/some-token")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, POST"


@pytest.mark.parametrize(("path", "status"), [("/healthz", "ok"), ("/readyz", "ready")])
def test_the_probes_answer_head_as_get_without_a_body(
    client: TestClient, path: str, status: str
) -> None:
    """Uptime monitors probe with HEAD: the same status and type as GET, no body."""
    got = client.get(path)
    probed = client.head(path)
    assert (got.status_code, got.json()) == (200, {"status": status})
    assert probed.status_code == 200
    assert probed.headers["content-type"] == got.headers["content-type"]
    # the length of the body GET sends (the server sends none for HEAD; the TestClient would
    # drop one, so that is shown by the live-server tests, not here)
    assert probed.headers["content-length"] == str(len(got.content))


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/v1/pixel/campaigns", "GET, POST"),
        ("PATCH", "/v1/pixel/campaigns/1", "GET, PUT"),
        ("DELETE", "/public/v1/campaigns", "GET, POST"),
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
