"""The console's classify page served in-process: a text, and a page whose refresh fails
while the store holds an older result (shown, tagged stale, with the failure)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.console.in_process import member, sign_in
from tests.contextual.site.server import OPEN_FETCH, LocalSite

from beacon.contextual import classification_repository as store
from beacon.contextual import service
from beacon.core.db import Database
from beacon.core.permissions import Role
from beacon.core.timefmt import utcnow

PAGE = "/app/understand/classify"


def test_a_text_and_a_stale_page_are_shown(app: FastAPI, client: TestClient, db: Database) -> None:
    with LocalSite() as site:
        shows_text_and_stale_page(app, client, db, site)


def shows_text_and_stale_page(
    app: FastAPI, client: TestClient, db: Database, site: LocalSite
) -> None:
    app.state.settings = app.state.settings.model_copy(update=OPEN_FETCH)
    token = sign_in(client, member(db, "admin@acme.example.com", Role.admin))
    text = client.post(
        PAGE,
        data={"mode": "text", "text": "Boil the spaghetti with garlic.", "csrf_token": token},
    )
    assert text.status_code == 200, text.text[:300]
    assert "Classified now (texts are never stored)" in text.text

    url = site.url("/broken.html")
    stale = service.classify_content(
        text="Liverpool won the football match.", settings=app.state.settings
    )
    with db.transaction() as session:
        store.save_classification(
            session, url=url, domain="127.0.0.1", classification=stale,
            engine_version="an-older-engine", classified_at=utcnow() - timedelta(days=30),
        )  # fmt: skip
    shown = client.post(PAGE, data={"mode": "url", "url": url, "csrf_token": token})
    assert shown.status_code == 200, shown.text[:300]
    assert "Stale" in shown.text and f"HTTP status 500 from {url}" in shown.text
    assert site.hits["/broken.html"] == 1


def test_a_viewer_is_refused_whatever_the_form_holds(client: TestClient, db: Database) -> None:
    # An empty form answered a viewer 422 (fill in a URL), a filled one 403: the form's errors
    # came before the role's.
    token = sign_in(client, member(db, "viewer@acme.example.com", Role.viewer))
    for data in ({"mode": "url", "url": ""}, {"mode": "text", "text": "Pasta with garlic."}):
        refused = client.post(PAGE, data={**data, "csrf_token": token})
        assert refused.status_code == 403, refused.text[:300]


def test_a_text_over_a_megabyte_reaches_the_form(client: TestClient, db: Database) -> None:
    """Form() fields had Starlette's 1 MB limit: a text the API classifies (at most 500,000
    characters) answered the framework's 400 "Field exceeded maximum size of 1024KB."."""
    token = sign_in(client, member(db, "admin@acme.example.com", Role.admin))
    text = ("Boil the pasta with garlic " + "é" * 30 + " ") * 6_000  # 348,000 characters
    encoded = urlencode({"mode": "text", "text": text, "csrf_token": token}).encode()
    assert len(encoded) > 1024 * 1024
    response = client.post(
        PAGE, content=encoded, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 200, response.text[:300]
    assert "Classified now (texts are never stored)" in response.text


def test_a_form_over_the_body_limit_is_a_413(client: TestClient, db: Database) -> None:
    token = sign_in(client, member(db, "admin@acme.example.com", Role.admin))
    limit = client.app.state.settings.max_body_bytes  # type: ignore[attr-defined]
    response = client.post(PAGE, data={"mode": "text", "text": "a" * limit, "csrf_token": token})
    assert response.status_code == 413, response.text[:300]
