"""POST /v1/clsfy/classify over HTTP, with pages served by a real local web server."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from tests.contextual.site.server import OPEN_FETCH, SLOW_SECONDS, LocalSite

from beacon.contextual import classification_repository as store
from beacon.contextual import engine, fetch
from beacon.contextual.models import ERROR, OK, UrlClassification
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.timefmt import utcnow

CLASSIFY = "/v1/clsfy/classify"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The app may fetch the local site (see site.server.OPEN_FETCH)."""
    return settings.model_copy(update=OPEN_FETCH)


def test_classifies_a_sports_page_and_serves_it_from_the_store(
    client: TestClient, headers: dict[str, str], site: LocalSite
) -> None:
    response = client.post(CLASSIFY, json={"url": site.url("/football.html")}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"url", "classification", "classified_date", "engine_version", "cached"}
    assert body["url"] == site.url("/football.html")
    assert body["engine_version"] == engine.ENGINE_VERSION
    assert body["cached"] is False
    assert body["classified_date"].endswith("Z") and len(body["classified_date"]) == 20
    classification = body["classification"]
    top = classification["iab_categories"][0]
    assert top["id"].startswith("IAB17") and top["name"] == "Sports"
    assert 0 < top["confidence"] <= 1
    assert "Premier League" in classification["keywords"]
    entities = {e["name"]: e["type"] for e in classification["entities"]}
    assert entities.get("Mohamed Salah") == "person"
    assert classification["sentiment"]["label"] in {"positive", "neutral"}

    again = client.post(CLASSIFY, json={"url": site.url("/football.html")}, headers=headers)
    assert again.status_code == 200
    assert again.json()["cached"] is True
    assert again.json()["classification"] == classification
    assert again.json()["classified_date"] == body["classified_date"]
    assert site.hits["/football.html"] == 1


def test_latin1_query_urls_are_distinct_pages_fetched_as_given(
    client: TestClient, headers: dict[str, str], site: LocalSite
) -> None:
    tops = {}
    for query, tier1 in (("t=%E9", "IAB8"), ("t=%FC", "IAB17")):
        url = site.url(f"/legacy?{query}")
        response = client.post(CLASSIFY, json={"url": url}, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["url"] == url and response.json()["cached"] is False
        tops[query] = response.json()["classification"]["iab_categories"][0]["id"]
        assert tops[query].startswith(tier1)
    assert site.hits["/legacy"] == 2


@pytest.mark.parametrize(
    ("path", "tier1", "sentiment"),
    [
        ("/gadgets.html", "IAB19", {"positive"}),
        # Instructions with two warm adjectives: mildly positive, inside the neutral band.
        ("/pasta.html", "IAB8", {"positive", "neutral"}),
        ("/earthquake.html", "IAB12", {"negative"}),
    ],
)
def test_topics_and_sentiment_of_other_pages(
    client: TestClient,
    headers: dict[str, str],
    site: LocalSite,
    path: str,
    tier1: str,
    sentiment: set[str],
) -> None:
    response = client.post(CLASSIFY, json={"url": site.url(path)}, headers=headers)
    assert response.status_code == 200, response.text
    classification = response.json()["classification"]
    assert classification["iab_categories"][0]["id"].split("-")[0] == tier1
    assert classification["sentiment"]["label"] in sentiment
    # The score still leans the right way when the label is neutral.
    assert (classification["sentiment"]["score"] < 0.5) == (sentiment == {"negative"})


def test_classifies_text_without_fetching(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post(
        CLASSIFY,
        json={
            "text": "Preheat the oven. Mix flour, butter, sugar and eggs, then bake the cake "
            "for thirty minutes. This simple baking recipe makes a delicious dessert.",
            "title": "Easy sponge cake recipe",
        },
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["url"] is None and body["cached"] is False
    assert body["classification"]["iab_categories"][0]["id"].split("-")[0] == "IAB8"


def test_null_is_absent_for_the_optional_title_as_for_text(
    client: TestClient, headers: dict[str, str]
) -> None:
    text = "Preheat the oven, mix flour, butter, sugar and eggs, then bake the cake."
    untitled = client.post(CLASSIFY, json={"text": text}, headers=headers)
    null_title = client.post(CLASSIFY, json={"text": text, "title": None}, headers=headers)
    assert (untitled.status_code, null_title.status_code) == (200, 200), null_title.text
    assert null_title.json()["classification"] == untitled.json()["classification"]
    # beside a URL, a null text and a null title are both absent: the rule is the same
    both_null = client.post(
        CLASSIFY,
        json={"url": "http://example.com:0/", "text": None, "title": None},
        headers=headers,
    )
    assert both_null.status_code == 422 and "'url'" in both_null.json()["message"]


def test_slow_page_is_a_clear_422_within_the_timeout(
    client: TestClient, headers: dict[str, str], site: LocalSite
) -> None:
    started = time.monotonic()
    response = client.post(CLASSIFY, json={"url": site.url("/slow.html")}, headers=headers)
    assert time.monotonic() - started < SLOW_SECONDS
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error"
    assert body["message"].startswith(f"Could not classify {site.url('/slow.html')}: timeout")


def test_non_html_is_a_422_and_the_failure_is_stored(
    client: TestClient, headers: dict[str, str], site: LocalSite, db: Database
) -> None:
    response = client.post(CLASSIFY, json={"url": site.url("/report.pdf")}, headers=headers)
    assert response.status_code == 422
    assert "not an HTML page (content type application/pdf)" in response.json()["message"]
    with db.transaction() as session:
        row = store.stored_row(session, site.url("/report.pdf"))
    assert row is not None and row.status == ERROR and row.attempts == 1
    assert row.next_attempt_at is not None

    # Backing off: the same reason, no second request to the site.
    again = client.post(CLASSIFY, json={"url": site.url("/report.pdf")}, headers=headers)
    assert again.status_code == 422
    assert again.json()["message"] == response.json()["message"]
    assert site.hits["/report.pdf"] == 1


def test_private_address_is_refused_when_the_guard_is_on(
    app: FastAPI, client: TestClient, headers: dict[str, str], site: LocalSite
) -> None:
    app.state.settings = app.state.settings.model_copy(
        update={"fetch_allow_private_networks": False}
    )
    response = client.post(CLASSIFY, json={"url": site.url("/football.html")}, headers=headers)
    assert response.status_code == 422
    assert response.json() == {
        "error": "validation_error",
        "message": f"Could not classify {site.url('/football.html')}: "
        "refused to connect to non-public address (loopback address)",
    }
    assert site.hits["/football.html"] == 0


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({}, 422, "send exactly one of 'url' or 'text'"),
        ({"url": "https://a.example/", "text": "hi"}, 422, "exactly one of"),
        ({"url": "ftp://a.example/file"}, 422, "Invalid value for 'url'"),
        ({"url": "not a url"}, 422, "must be an absolute http(s) URL"),
        ({"url": "http://xn--/"}, 422, "must be an absolute http(s) URL with a valid host"),
        ({"url": "https://xn--abc-.example/"}, 422, "with a valid host name"),
        ({"url": "https://a.example.com:99999/"}, 422, "with a valid host name and port"),
        (  # no server listens on port 0: refused, not fetched
            {"url": "http://example.com:0/"},
            422,
            "Invalid value for 'url': must be an absolute http(s) URL with a valid host name and port",
        ),
        # the fetcher never sends credentials: accepted, the URL would only ever fail
        ({"url": "https://me:pw@a.example.com/"}, 422, "must not carry a user name or password"),
        ({"url": 42}, 400, "Invalid type for 'url'"),
        ({"text": ""}, 422, "Invalid value for 'text'"),
        ({"text": " \n\t\u00a0\u200b"}, 422, "Invalid value for 'text': must not be empty"),
        ({"url": "https://a.example/", "colour": "red"}, 400, "Unknown parameter 'colour'"),
    ],
)
def test_invalid_requests(
    client: TestClient, headers: dict[str, str], payload: object, status: int, message: str
) -> None:
    response = client.post(CLASSIFY, json=payload, headers=headers)
    assert response.status_code == status, response.text
    assert message in response.json()["message"]


def test_needs_an_api_key(client: TestClient) -> None:
    response = client.post(CLASSIFY, json={"text": "hello"})
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_an_older_result_is_answered_while_its_refresh_fails(
    client: TestClient, headers: dict[str, str], site: LocalSite, db: Database
) -> None:
    # The page was classified a month ago and its site now fails: the API hid the result
    # reports still use (422 with the fetch's reason), and kept hiding it while backing off.
    url = site.url("/broken.html")
    old = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
    stale = {"iab_categories": [{"id": "IAB17", "name": "Sports", "confidence": 0.8}]}
    with db.transaction() as session:
        store.save_classification(
            session, url=url, domain="127.0.0.1", classification=stale,
            engine_version="an-older-engine", classified_at=old,
        )  # fmt: skip
    for attempt in (1, 2):  # the refresh fails, then backs off
        response = client.post(CLASSIFY, json={"url": url}, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body == {
            "url": url,
            "classification": stale,
            "classified_date": "2026-01-15T10:00:00Z",
            "engine_version": "an-older-engine",
            "cached": True,
            "refresh_error": f"HTTP status 500 from {url}",
        }
        assert site.hits["/broken.html"] == 1, attempt
    with db.transaction() as session:
        row = store.stored_row(session, url)
    assert row is not None and row.status == OK and row.attempts == 1

    # A page never classified still answers 422.
    missing = client.post(CLASSIFY, json={"url": site.url("/missing.html")}, headers=headers)
    assert missing.status_code == 422


def test_a_host_with_a_trailing_dot_is_the_same_page(
    client: TestClient, headers: dict[str, str], site: LocalSite, db: Database
) -> None:
    # 'example.com.' is the fully qualified spelling of 'example.com': the two were two store
    # keys, so one page was fetched and classified twice (and listed twice).
    port = site.base.rsplit(":", 1)[1]
    plain = f"http://localhost:{port}/football.html"
    dotted = f"http://LocalHost.:{port}/football.html?utm_source=x#top"
    first = client.post(CLASSIFY, json={"url": dotted}, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["url"] == plain and first.json()["cached"] is False
    again = client.post(CLASSIFY, json={"url": plain}, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["cached"] is True
    assert again.json()["classification"] == first.json()["classification"]
    assert site.hits["/football.html"] == 1
    with db.transaction() as session:
        assert session.scalars(select(UrlClassification.url)).all() == [plain]


def test_a_throttling_site_is_answered_its_wait_without_being_asked(
    client: TestClient, headers: dict[str, str], site: LocalSite, db: Database
) -> None:
    # One page's 429 held only that page: the client's next page of the site was fetched.
    site.every_page_status, site.retry_after = 429, "120"
    first = client.post(CLASSIFY, json={"url": site.url("/football.html")}, headers=headers)
    assert first.status_code == 422
    url = site.url("/pasta.html")
    held = client.post(CLASSIFY, json={"url": url}, headers=headers)
    assert held.status_code == 422, held.text
    body = held.json()
    assert set(body) == {"error", "message"} and body["error"] == "validation_error"
    prefix = f"Could not classify {url}: not fetched: {site.base} answered HTTP status 429"
    assert body["message"].startswith(prefix)
    assert sum(site.hits.values()) == 1

    # A page with an older result answers it, the hold in refresh_error.
    stale = {"iab_categories": [{"id": "IAB17", "name": "Sports", "confidence": 0.8}]}
    older = site.url("/gadgets.html")
    with db.transaction() as session:
        store.save_classification(
            session, url=older, domain="127.0.0.1", classification=stale,
            engine_version="an-older-engine", classified_at=datetime(2026, 1, 15, tzinfo=UTC),
        )  # fmt: skip
    response = client.post(CLASSIFY, json={"url": older}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["classification"] == stale
    assert response.json()["refresh_error"].startswith(f"not fetched: {site.base}")
    assert sum(site.hits.values()) == 1


def test_a_sites_wait_holds_it_for_every_account_and_every_process(
    client: TestClient, key_for: Callable[[str], str], site: LocalSite
) -> None:
    # The wait is the site's request, whoever asked for its page: another account's request
    # is held too, also in a process that did not meet the 429 (a hold lived in the memory of
    # the process that met it only, and a restart forgot it).
    site.every_page_status, site.retry_after = 429, "3600"
    first = client.post(
        CLASSIFY, json={"url": site.url("/football.html")}, headers={"X-API-Key": key_for("a")}
    )
    assert first.status_code == 422
    asked = (sum(site.hits.values()), site.robots_hits)
    fetch.clear_robots_cache()  # another process: no hold in its memory
    site.every_page_status = None  # a request would be answered, and counted
    url = site.url("/pasta.html")
    held = client.post(CLASSIFY, json={"url": url}, headers={"X-API-Key": key_for("b")})
    assert held.status_code == 422, held.text
    prefix = f"Could not classify {url}: not fetched: {site.base} answered HTTP status 429"
    assert held.json()["message"].startswith(prefix)
    assert (sum(site.hits.values()), site.robots_hits) == asked


def test_a_client_looping_on_a_given_up_page_does_not_hammer_its_site(
    client: TestClient, headers: dict[str, str], site: LocalSite, db: Database
) -> None:
    # An explicit request fetched a URL the worker had given up every time.
    url = site.url("/missing.html")
    for _ in range(6):  # the worker's attempts, each once its back-off has passed
        assert client.post(CLASSIFY, json={"url": url}, headers=headers).status_code == 422
        with db.transaction() as session:
            session.execute(update(UrlClassification).values(next_attempt_at=utcnow()))
    with db.transaction() as session:
        session.execute(update(UrlClassification).values(next_attempt_at=None))  # given up
    for _ in range(5):
        response = client.post(CLASSIFY, json={"url": url}, headers=headers)
        assert response.status_code == 422
        assert response.json() == {
            "error": "validation_error",
            "message": f"Could not classify {url}: HTTP status 404 from {url}",
        }
    assert site.hits["/missing.html"] == 6


def _older_dotted_row(db: Database, url: str) -> None:
    # A row stored before 'example.com.' and 'example.com' were one key, its result stale.
    import hashlib

    with db.transaction() as session:
        session.add(
            UrlClassification(
                url_hash=hashlib.sha1(url.encode(), usedforsecurity=False).hexdigest(),
                url=url, domain="localhost", status=OK, engine_version="an-older-engine",
                classification='{"iab_categories": [], "keywords": ["old"]}',
                classified_at=datetime(2020, 1, 1, tzinfo=UTC),
            )
        )  # fmt: skip


def test_classifying_a_url_stored_under_a_hosts_root_dot_refreshes_that_row(
    client: TestClient, headers: dict[str, str], site: LocalSite, db: Database
) -> None:
    # The dotted URL asked again was fetched and stored under its dotless key: a second row
    # beside the older one (which the tick went on refreshing too).
    port = site.base.rsplit(":", 1)[1]
    dotted = f"http://localhost.:{port}/football.html"
    _older_dotted_row(db, dotted)
    first = client.post(CLASSIFY, json={"url": dotted}, headers=headers)
    assert first.status_code == 200, first.text
    # ... and answered as every spelling of the page is: normalised, its root dot dropped
    plain = f"http://localhost:{port}/football.html"
    assert first.json()["cached"] is False and first.json()["url"] == plain
    again = client.post(CLASSIFY, json={"url": dotted}, headers=headers)
    assert again.json()["cached"] is True and again.json()["url"] == plain
    assert site.hits["/football.html"] == 1
    with db.transaction() as session:
        rows = session.execute(select(UrlClassification.url, UrlClassification.engine_version))
        assert rows.all() == [(dotted, engine.ENGINE_VERSION)]
