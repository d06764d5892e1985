"""Inventory rows whose page could not be classified say why (`reason`)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from fastapi.testclient import TestClient
from tests.activation.helpers import API, upload_inventory

from beacon.contextual import service
from beacon.contextual.pages import PageResult
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.timefmt import utcnow
from beacon.pixel.classification import classify_due

FINE, MISSING = "https://www.example.com/fine", "https://www.example.com/missing"


def _fetched(
    *, urls: Sequence[str], settings: Settings, transaction: object = None
) -> list[PageResult]:
    # What the fetcher answers for these two pages (the public web is out of reach in tests).
    text = "Liverpool beat Manchester City in the Premier League football match at Anfield."
    return [
        PageResult(
            url=url,
            classification=None,
            error=f"HTTP status 404 from {url}",
            classified_at=utcnow(),
        )
        if url == MISSING
        else PageResult(
            url=url,
            classification=service.classify_content(text=text, settings=settings),
            error=None,
            classified_at=utcnow(),
        )
        for url in urls
    ]


def test_error_rows_carry_the_fetch_error_in_words(
    client: TestClient,
    headers: dict[str, str],
    db: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    upload_inventory(client, headers, [FINE, MISSING])
    monkeypatch.setattr(service, "classify_pages", _fetched)
    assert classify_due(db=db, settings=settings) == 2
    rows = {
        row["url"]: row for row in client.get(f"{API}/inventory", headers=headers).json()["data"]
    }
    assert rows[MISSING]["status"] == "error"
    assert rows[MISSING]["reason"] == f"HTTP status 404 from {MISSING}"
    assert rows[FINE]["status"] == "ok"
    assert "reason" not in rows[FINE]


def test_an_inventory_row_stored_under_a_hosts_root_dot_is_still_found(db: Database) -> None:
    # Stored before 'example.com.' and 'example.com' were one key: the console's re-classify
    # looked the URL up under its key now only, and answered 404 for it.
    import hashlib

    from beacon.activation.inventory import service as inventory
    from beacon.activation.models import InventoryUrl
    from beacon.core import auth

    old_url = "https://example.com./a"
    with db.transaction() as session:
        account_id = auth.issue_api_key(session=session, account_name="inv").account_id
        session.add(
            InventoryUrl(
                account_id=account_id,
                url_hash=hashlib.sha1(old_url.encode(), usedforsecurity=False).hexdigest(),
                url=old_url, domain="example.com", source="upload",
            )
        )  # fmt: skip
    with db.transaction() as session:
        found = inventory.get_inventory_url(session=session, account_id=account_id, url=old_url)
        # ... and under its plain spelling (a pixel's page, a link copied from the browser)
        plain = inventory.get_inventory_url(
            session=session, account_id=account_id, url="https://example.com/a"
        )
    assert found == old_url == plain


def test_re_classifying_a_row_stored_under_a_hosts_root_dot_updates_that_row(
    client: TestClient, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Second review of 5fd7f9f: the console's re-classify finds an inventory row stored under
    # 'example.com.' (it answered 404 before) and said "Re-classified", but classify_url stored
    # the result under the dotless key; the inventory joins the store by the row's own (dotted)
    # hash, so the row kept its old failure for good (a given-up row is not retried).
    import hashlib

    from beacon.activation.inventory import service as inventory
    from beacon.activation.models import InventoryUrl
    from beacon.contextual.models import ERROR, UrlClassification
    from beacon.core import auth

    old_url = "https://example.com./a"
    old_hash = hashlib.sha1(old_url.encode(), usedforsecurity=False).hexdigest()
    with db.transaction() as session:
        issued = auth.issue_api_key(session=session, account_name="dotted")
        session.add(
            InventoryUrl(
                account_id=issued.account_id, url_hash=old_hash, url=old_url,
                domain="example.com", source="upload",
            )
        )  # fmt: skip
        session.add(
            UrlClassification(
                url_hash=old_hash, url=old_url, domain="example.com", status=ERROR,
                error=f"HTTP status 404 from {old_url}", attempts=6, next_attempt_at=None,
            )
        )  # fmt: skip
    monkeypatch.setattr(
        service,
        "classify_page",
        lambda *, url, settings, transaction: _fetched(urls=[url], settings=settings)[0],
    )
    # What the console's POST /app/understand/inventory/reclassify does.
    with db.transaction() as session:
        found = inventory.get_inventory_url(
            session=session, account_id=issued.account_id, url=old_url
        )
    outcome = service.classify_url(
        db=db, settings=settings, url=found, refresh=True, stored_as=found
    )
    assert outcome.error is None and outcome.refresh_error is None  # "Re-classified ..."
    listed = client.get(f"{API}/inventory", headers={"X-API-Key": issued.key}).json()["data"]
    assert [row["status"] for row in listed] == ["ok"]


def test_re_uploading_a_url_stored_under_a_hosts_root_dot_keeps_its_one_row(
    client: TestClient, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An upload keyed the dotted URL by its dotless key only: a second inventory row and a
    # second store row were added beside the ones stored before, so the listing showed the
    # page twice (and counted it twice), and the page was fetched and classified twice.
    import hashlib

    from sqlalchemy import func, select

    from beacon.activation.models import InventoryUrl
    from beacon.contextual.classification_repository import classifications_for_domains
    from beacon.contextual.models import OK, UrlClassification
    from beacon.core import auth

    old_url = "https://example.com./a"
    old_hash = hashlib.sha1(old_url.encode(), usedforsecurity=False).hexdigest()
    with db.transaction() as session:
        issued = auth.issue_api_key(session=session, account_name="dotted")
        other = auth.issue_api_key(session=session, account_name="other")
        session.add(
            InventoryUrl(
                account_id=issued.account_id, url_hash=old_hash, url=old_url,
                domain="example.com", source="upload",
            )
        )  # fmt: skip
        session.add(
            UrlClassification(
                url_hash=old_hash, url=old_url, domain="example.com", status=OK,
                classification='{"iab_categories": [], "keywords": ["old"]}',
                engine_version="old", classified_at=utcnow(),
            )
        )  # fmt: skip
    for key in (issued.key, other.key):
        added = upload_inventory(client, {"X-API-Key": key}, ["https://Example.com./a#x"])
        assert added["queued"] == 0
    assert upload_inventory(client, {"X-API-Key": issued.key}, [old_url])["added"] == 0
    monkeypatch.setattr(service, "classify_pages", _fetched)
    assert classify_due(db=db, settings=settings) == 1  # the one row, refreshed
    for key in (issued.key, other.key):
        listed = client.get(f"{API}/inventory", headers={"X-API-Key": key}).json()
        assert [(row["url"], row["status"]) for row in listed["data"]] == [(old_url, "ok")]
        assert listed["pagination"]["total"] == 1
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(UrlClassification)) == 1
        assert session.scalar(select(func.count()).select_from(InventoryUrl)) == 2
        aggregate = classifications_for_domains(session, ["example.com"])["example.com"]
    assert aggregate["keywords"] != ["old"]  # the refreshed result, counted once


def test_a_page_sent_with_and_without_its_hosts_root_dot_is_one_inventory_row(
    client: TestClient, db: Database
) -> None:
    # Review of the re-upload fix: the store held the page under 'example.com.' only; an upload
    # of both spellings, or of the dotted one and later the plain one (a pixel's page has no
    # dot), listed the page twice: the dotted URL was keyed by its older row, the plain one by
    # its own key, and neither counted the other's row as the page's.
    import hashlib

    from sqlalchemy import func, select

    from beacon.activation.models import InventoryUrl
    from beacon.contextual.models import OK, UrlClassification
    from beacon.core import auth

    old_url = "https://example.com./a"
    old_hash = hashlib.sha1(old_url.encode(), usedforsecurity=False).hexdigest()
    with db.transaction() as session:
        both = auth.issue_api_key(session=session, account_name="both")
        later = auth.issue_api_key(session=session, account_name="later")
        session.add(
            UrlClassification(
                url_hash=old_hash, url=old_url, domain="example.com", status=OK,
                classification='{"iab_categories": [], "keywords": ["old"]}',
                engine_version="old", classified_at=utcnow(),
            )
        )  # fmt: skip
    sent = ["https://example.com./a", "https://example.com/a"]
    assert upload_inventory(client, {"X-API-Key": both.key}, sent)["added"] == 1
    assert upload_inventory(client, {"X-API-Key": both.key}, sent[::-1])["added"] == 0
    assert upload_inventory(client, {"X-API-Key": later.key}, sent[:1])["added"] == 1
    assert upload_inventory(client, {"X-API-Key": later.key}, sent[1:])["added"] == 0
    for key in (both.key, later.key):
        listed = client.get(f"{API}/inventory", headers={"X-API-Key": key}).json()
        assert [row["url"] for row in listed["data"]] == [old_url]
        assert listed["pagination"]["total"] == 1
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(InventoryUrl)) == 2


def test_a_page_sent_with_a_raw_and_an_escaped_path_is_one_inventory_row(
    client: TestClient, db: Database
) -> None:
    # An upload copied from an address bar ('/ü') and a pixel's page ('/%C3%BC') are one page:
    # one inventory row, one store row, counted once by a segment over it.
    from sqlalchemy import func, select

    from beacon.activation.models import InventoryUrl
    from beacon.contextual.models import UrlClassification
    from beacon.core import auth

    with db.transaction() as session:
        issued = auth.issue_api_key(session=session, account_name="raw")
    sent = ["https://example.com/ü", "https://example.com/%C3%BC", "https://example.com/%c3%bc"]
    assert upload_inventory(client, {"X-API-Key": issued.key}, sent)["added"] == 1
    assert upload_inventory(client, {"X-API-Key": issued.key}, sent[::-1])["added"] == 0
    listed = client.get(f"{API}/inventory", headers={"X-API-Key": issued.key}).json()
    assert [row["url"] for row in listed["data"]] == ["https://example.com/%C3%BC"]
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(InventoryUrl)) == 1
        assert session.scalar(select(func.count()).select_from(UrlClassification)) == 1


def test_a_long_url_not_in_the_inventory_is_quoted_cut_and_the_message_intact(
    db: Database,
) -> None:
    # Read back as a message, the URL's apostrophe paired with the one in "account's": the
    # message came out as "...…' (179 characters)s inventory".
    from beacon.activation.inventory import service as inventory
    from beacon.core import auth
    from beacon.core.errors import NotFound

    url = "https://example.com/o'brien/" + "x" * 150
    with db.transaction() as session:
        account_id = auth.issue_api_key(session=session, account_name="inv").account_id
    with db.transaction() as session, pytest.raises(NotFound) as refused:
        inventory.get_inventory_url(session=session, account_id=account_id, url=url)
    assert refused.value.message == (
        "\"https://example.com/o'brien/" + "x" * 72 + '…" (178 characters) is not in this '
        "account's inventory"
    )
