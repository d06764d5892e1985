"""Batch classification: job lifecycle, paging, account isolation, parallel fetching."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from tests.contextual.site.server import OPEN_FETCH, SLOW_SECONDS, LocalSite

from beacon.contextual import classification_repository as store
from beacon.contextual import service
from beacon.contextual.models import ClassificationBatch
from beacon.contextual.pages import PageResult
from beacon.contextual.tasks import batch_job_kind
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.timefmt import utcnow
from beacon.core.worker import Worker

BATCH = "/v1/clsfy/classify/batch"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The app may fetch the local site (see site.server.OPEN_FETCH)."""
    return settings.model_copy(update=OPEN_FETCH)


def run_worker(db: Database, settings: Settings) -> None:
    Worker(db=db, kinds=[batch_job_kind(settings)]).run_until_idle()


def test_batch_lifecycle_with_paged_results(
    client: TestClient, headers: dict[str, str], db: Database, settings: Settings, site: LocalSite
) -> None:
    urls = [
        site.url("/football.html"),
        site.url("/gadgets.html"),
        site.url("/report.pdf"),
        site.url("/pasta.html"),
        site.url("/football.html?utm_campaign=x"),  # the same page: fetched once
    ]
    created = client.post(BATCH, json={"urls": urls}, headers=headers)
    assert created.status_code == 201, created.text
    batch = created.json()
    assert batch == {
        "id": batch["id"],
        "status": "pending",
        "created_date": batch["created_date"],
        "processed_date": None,
        "url_count": 5,
        "summary": None,
        "results": None,
        "pagination": None,
    }
    pending = client.get(f"{BATCH}/{batch['id']}", headers=headers).json()
    assert pending["status"] == "pending" and pending["results"] is None

    run_worker(db, settings)

    done = client.get(f"{BATCH}/{batch['id']}", headers=headers)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "complete" and body["processed_date"] is not None
    assert body["summary"] == {"classified": 4, "failed": 1}
    assert body["pagination"] == {"limit": 1000, "offset": 0, "total": 5}
    results = body["results"]
    assert [r["url"] for r in results] == urls
    assert [r["status"] for r in results] == [
        "classified",
        "classified",
        "failed",
        "classified",
        "classified",
    ]
    tier1 = [
        r["classification"]["iab_categories"][0]["id"].split("-")[0]
        for r in results
        if "classification" in r
    ]
    assert tier1 == ["IAB17", "IAB19", "IAB8", "IAB17"]
    # every classified result says its language (the additive fields of the classify API)
    assert {(r["classification"]["language"], tuple(r["classification"]["notes"]))
            for r in results if "classification" in r} == {("en", ())}  # fmt: skip
    assert set(results[2]) == {"url", "status", "error"}
    assert "not an HTML page" in results[2]["error"]
    assert site.hits["/football.html"] == 1

    page = client.get(f"{BATCH}/{batch['id']}?limit=2&offset=1", headers=headers).json()
    assert [r["url"] for r in page["results"]] == urls[1:3]
    assert page["pagination"] == {"limit": 2, "offset": 1, "total": 5}
    assert page["summary"] == {"classified": 4, "failed": 1}


def test_batch_reuses_fresh_store_results(
    client: TestClient, headers: dict[str, str], db: Database, settings: Settings, site: LocalSite
) -> None:
    single = client.post(
        "/v1/clsfy/classify", json={"url": site.url("/pasta.html")}, headers=headers
    )
    assert single.status_code == 200
    created = client.post(BATCH, json={"urls": [site.url("/pasta.html")]}, headers=headers).json()
    run_worker(db, settings)
    body = client.get(f"{BATCH}/{created['id']}", headers=headers).json()
    assert body["results"][0]["classification"] == single.json()["classification"]
    assert site.hits["/pasta.html"] == 1


def test_batch_answers_an_older_result_whose_refresh_fails(
    client: TestClient, headers: dict[str, str], db: Database, settings: Settings, site: LocalSite
) -> None:
    # Its site fails now: the item was 'failed', hiding the result reports still use.
    url = site.url("/broken.html")
    stale = {"iab_categories": [{"id": "IAB17", "name": "Sports", "confidence": 0.8}]}
    with db.transaction() as session:
        store.save_classification(
            session, url=url, domain="127.0.0.1", classification=stale,
            engine_version="an-older-engine", classified_at=utcnow() - timedelta(days=30),
        )  # fmt: skip
    for expected_hits in (1, 1):  # fetched and failed, then backing off
        created = client.post(BATCH, json={"urls": [url]}, headers=headers).json()
        run_worker(db, settings)
        body = client.get(f"{BATCH}/{created['id']}", headers=headers).json()
        assert body["summary"] == {"classified": 1, "failed": 0}
        assert body["results"] == [{"url": url, "status": "classified", "classification": stale}]
        assert site.hits["/broken.html"] == expected_hits


def test_slow_page_does_not_hold_up_the_others(
    client: TestClient, headers: dict[str, str], db: Database, settings: Settings, site: LocalSite
) -> None:
    urls = [site.url("/slow.html"), site.url("/football.html"), site.url("/earthquake.html")]
    created = client.post(BATCH, json={"urls": urls}, headers=headers).json()
    started = time.monotonic()
    run_worker(db, settings)
    assert time.monotonic() - started < SLOW_SECONDS
    body = client.get(f"{BATCH}/{created['id']}", headers=headers).json()
    assert body["summary"] == {"classified": 2, "failed": 1}
    assert body["results"][0]["error"].startswith("timeout")
    assert body["results"][2]["classification"]["sentiment"]["label"] == "negative"


def test_pages_are_fetched_with_no_database_connection_held(
    client: TestClient,
    headers: dict[str, str],
    db: Database,
    settings: Settings,
    site: LocalSite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    held_during_fetch: list[int] = []
    fetch_and_classify = service.classify_pages

    def spy(*, urls: list[str], settings: Settings, transaction: Any) -> list[PageResult]:
        held_during_fetch.append(db.engine.pool.checkedout())  # type: ignore[attr-defined]
        return fetch_and_classify(urls=urls, settings=settings, transaction=transaction)

    monkeypatch.setattr(service, "classify_pages", spy)
    urls = [site.url("/football.html"), site.url("/pasta.html")]
    created = client.post(BATCH, json={"urls": urls}, headers=headers).json()
    run_worker(db, settings)
    assert held_during_fetch == [0]
    body = client.get(f"{BATCH}/{created['id']}", headers=headers).json()
    assert body["status"] == "complete"
    assert body["summary"] == {"classified": 2, "failed": 0}


def test_a_batch_retried_after_its_worker_died_fetches_only_the_rest(
    client: TestClient,
    headers: dict[str, str],
    db: Database,
    settings: Settings,
    site: LocalSite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The batch saved nothing until every page was fetched: a worker killed mid-batch (a
    # deploy) left its retry to fetch every page again. Each slice is stored as it comes now.
    settings = settings.model_copy(update={"classification_parallel_fetches": 1})  # slices of 4
    pages = ["/report.pdf", "/football.html", "/pasta.html", "/gadgets.html"]
    pages += ["/earthquake.html", "/liga.html", "/reise.html", "/sante.html"]
    urls = [site.url(page) for page in pages]
    created = client.post(BATCH, json={"urls": urls}, headers=headers).json()
    fetch_and_classify = service.classify_pages
    fetched: list[str] = []

    def dies_at_the_fifth_page(
        *, urls: list[str], settings: Settings, transaction: Any
    ) -> list[PageResult]:
        if len(fetched) + len(urls) > 4:
            before = urls[: 4 - len(fetched)]
            fetched.extend(before)
            fetch_and_classify(urls=before, settings=settings, transaction=transaction)
            raise RuntimeError("worker killed")
        fetched.extend(urls)
        return fetch_and_classify(urls=urls, settings=settings, transaction=transaction)

    monkeypatch.setattr(service, "classify_pages", dies_at_the_fifth_page)
    run_worker(db, settings)
    assert client.get(f"{BATCH}/{created['id']}", headers=headers).json()["status"] == "pending"
    assert {page: site.hits[page] for page in pages} == {p: int(p in pages[:4]) for p in pages}

    monkeypatch.setattr(service, "classify_pages", fetch_and_classify)
    with db.transaction() as session:  # the retry is due now
        session.execute(update(ClassificationBatch).values(run_after=None))
    run_worker(db, settings)
    assert {page: site.hits[page] for page in pages} == dict.fromkeys(pages, 1)

    body = client.get(f"{BATCH}/{created['id']}", headers=headers).json()
    assert body["status"] == "complete"
    assert body["summary"] == {"classified": 7, "failed": 1}
    assert [r["url"] for r in body["results"]] == urls
    assert "not an HTML page" in body["results"][0]["error"]
    expected = [
        r.classification
        for r in service.classify_pages(urls=urls, settings=settings, transaction=None)
    ]
    assert [r.get("classification") for r in body["results"]] == expected


def test_another_accounts_batch_is_not_found(
    client: TestClient, headers: dict[str, str], key_for: Callable[[str], str]
) -> None:
    created = client.post(BATCH, json={"urls": ["https://a.example/"]}, headers=headers).json()
    other = {"X-API-Key": key_for("globex")}
    response = client.get(f"{BATCH}/{created['id']}", headers=other)
    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "message": f"Classification batch with ID {created['id']} not found",
    }
    assert client.get(f"{BATCH}/999999", headers=headers).status_code == 404


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"urls": []}, 422, "Invalid value for 'urls'"),
        ({"urls": [f"https://a.example/{i}" for i in range(1001)]}, 422, "at most 1000"),
        ({"urls": ["https://a.example/", "mailto:x@y.z"]}, 422, "'urls[1]'"),
        ({"urls": "https://a.example/"}, 400, "Invalid type for 'urls'"),
        ({}, 400, "Missing required parameter 'urls'"),
    ],
)
def test_invalid_batches(
    client: TestClient, headers: dict[str, str], payload: object, status: int, message: str
) -> None:
    response = client.post(BATCH, json=payload, headers=headers)
    assert response.status_code == status, response.text
    assert message in response.json()["message"]


def test_paging_parameters_are_validated(client: TestClient, headers: dict[str, str]) -> None:
    created = client.post(BATCH, json={"urls": ["https://a.example/"]}, headers=headers).json()
    assert client.get(f"{BATCH}/{created['id']}?limit=0", headers=headers).status_code == 422
    assert client.get(f"{BATCH}/{created['id']}?offset=-1", headers=headers).status_code == 422


def test_a_batch_refreshes_a_url_stored_under_a_hosts_root_dot_in_its_row(
    client: TestClient, headers: dict[str, str], db: Database, settings: Settings, site: LocalSite
) -> None:
    # A batch looked the dotted URL up, and stored its result, under its dotless key only: a
    # second row beside the older one.
    from sqlalchemy import select

    from beacon.contextual.models import UrlClassification

    port = site.base.rsplit(":", 1)[1]
    dotted = f"http://localhost.:{port}/football.html"
    stale = {"iab_categories": [], "keywords": ["old"]}
    with db.transaction() as session:
        store.save_classification(
            session, url=dotted, domain="localhost", classification=stale,
            engine_version="an-older-engine", classified_at=utcnow() - timedelta(days=30),
            key=store.stored_key(dotted),
        )  # fmt: skip
    # The plain spelling first (review of the fix): it chose the page's key, its own, and the
    # result went to a second row beside the older one.
    plain = f"http://localhost:{port}/football.html"
    sent = [plain, dotted, dotted + "#x"]
    created = client.post(BATCH, json={"urls": sent}, headers=headers).json()
    run_worker(db, settings)
    body = client.get(f"{BATCH}/{created['id']}", headers=headers).json()
    assert body["summary"] == {"classified": 3, "failed": 0}
    assert body["results"][0]["classification"] != stale
    assert site.hits["/football.html"] == 1
    with db.transaction() as session:
        assert session.scalars(select(UrlClassification.url)).all() == [dotted]


def test_the_openapi_document_states_a_batch_results_fields_and_a_real_batch_matches_it(
    client: TestClient, headers: dict[str, str], db: Database, settings: Settings, site: LocalSite
) -> None:
    # A result was a plain object in the document (its model serializer's dict return type):
    # a client generated from it knew no url, status, classification or error.
    import jsonschema_rs

    document = client.get("/openapi.json").json()
    result = document["components"]["schemas"]["BatchResult"]
    assert list(result["properties"]) == ["url", "status", "classification", "error"]
    assert result["required"] == ["url", "status"]
    urls = [site.url("/football.html"), site.url("/report.pdf")]
    created = client.post(BATCH, json={"urls": urls}, headers=headers).json()
    run_worker(db, settings)
    response = client.get(f"{BATCH}/{created['id']}", headers=headers)
    batch = {"$ref": "#/components/schemas/Batch", "components": document["components"]}
    jsonschema_rs.validator_for(batch).validate(response.json())
    classified, failed = response.json()["results"]
    assert list(classified) == ["url", "status", "classification"]  # the wire form as before
    assert list(failed) == ["url", "status", "error"]
    assert response.text.startswith('{"id":') and '"error":null' not in response.text
