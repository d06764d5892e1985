"""The console's paths over HTTP: one rule for a trailing slash (a 308 to the path without it,
query kept) and a section's address (``/app/settings``) opening its first page."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.console.in_process import member, sign_in

from beacon.core.db import Database
from beacon.core.permissions import Role


@pytest.mark.parametrize(
    ("path", "canonical"),
    [
        ("/app/settings/", "/app/settings"),
        ("/app/settings/members/?offset=0&x=%C3%A9", "/app/settings/members?offset=0&x=%C3%A9"),
        ("/app/pixel/campaigns//", "/app/pixel/campaigns"),
        ("/app/activate/deliveries/", "/app/activate/deliveries"),
        ("/app/login/?next=/app/pixel/campaigns", "/app/login?next=/app/pixel/campaigns"),
    ],
)
def test_a_trailing_slash_redirects_to_the_page_without_it(
    db: Database, client: TestClient, path: str, canonical: str
) -> None:
    # /app/settings/ (typed, or a bookmark) was a bare 404 page.
    sign_in(client, member(db, "owner@acme.example", Role.owner))

    response = client.get(path, follow_redirects=False)

    assert response.status_code == 308
    assert response.headers["location"] == canonical  # relative: no http:// behind TLS
    assert client.get(path).status_code == 200


def test_a_posted_form_with_a_trailing_slash_is_posted_again_without_it(
    db: Database, client: TestClient
) -> None:
    csrf = sign_in(client, member(db, "owner@acme.example", Role.owner))

    response = client.post(
        "/app/settings/password/", data={"csrf_token": csrf}, follow_redirects=False
    )

    assert response.status_code == 308  # the browser repeats the POST, body and all
    assert response.headers["location"] == "/app/settings/password"


def test_a_path_that_is_no_page_stays_a_404_with_or_without_its_slash(
    db: Database, client: TestClient
) -> None:
    sign_in(client, member(db, "owner@acme.example", Role.owner))
    for path in ("/app/no-such-page/", "/app/no-such-page", "/app/settings/nothing/"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 404, path
        assert "Page not found" in response.text


def test_only_a_real_slash_before_a_page_that_answers_the_method_redirects(
    db: Database, client: TestClient
) -> None:
    # An escaped slash (%2F) redirected to itself, a loop the browser gave up on; a method
    # the page does not answer, or any method but GET and POST, was a 405 where the path
    # without the catch-all route was a 404.
    sign_in(client, member(db, "owner@acme.example", Role.owner))
    for path in ("/app/settings/members%2F", "/app/settings/members/%2F"):
        assert client.get(path, follow_redirects=False).status_code == 404, path
    assert client.get("/app/settings/members/1/remove/", follow_redirects=False).status_code == 404
    for method in ("PUT", "DELETE", "PATCH"):
        response = client.request(method, "/app/no-such-page/", follow_redirects=False)
        assert response.status_code == 404, method
    assert client.get("/app/settings/members/", follow_redirects=False).status_code == 308


def test_the_json_api_keeps_its_404_for_a_trailing_slash(client: TestClient) -> None:
    response = client.get("/v1/pixel/campaigns/", follow_redirects=False)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("role", "section", "first_page"),
    [
        (Role.owner, "/app/settings", "/app/settings/members"),
        (Role.viewer, "/app/settings", "/app/settings/members"),
        (Role.owner, "/app/pixel", "/app/pixel/campaigns"),
        (Role.owner, "/app/activate", "/app/activate/segments"),
    ],
)
def test_a_section_opens_its_first_page(
    db: Database, client: TestClient, role: Role, section: str, first_page: str
) -> None:
    sign_in(client, member(db, f"{role.value}@acme.example", role))

    response = client.get(section, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == first_page


def test_a_section_signed_out_asks_to_sign_in(client: TestClient) -> None:
    response = client.get("/app/settings/", follow_redirects=True)
    assert response.url.path == "/app/login"
    assert response.url.params["next"] == "/app/settings"
