"""The classification store: lookups by URL (normalised) and the per-domain aggregate rule."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
from sqlalchemy import select

from beacon.contextual.classification_repository import (
    aggregate,
    classifications_for_domains,
    classifications_for_urls,
    record_failure,
    record_hold,
    save_classification,
)
from beacon.contextual.models import HeldSite
from beacon.contextual.repository import hold_sites, holds_of
from beacon.core.db import Database
from beacon.core.timefmt import utcnow


def page(category: str, conf: float, keyword: str, score: float) -> dict[str, object]:
    return {
        "iab_categories": [{"id": category, "name": category, "confidence": conf}],
        "keywords": [keyword],
        "entities": [{"name": "NVIDIA", "type": "brand", "confidence": 0.9}],
        "sentiment": {"label": "positive" if score > 0.525 else "neutral", "score": score},
    }


def test_lookup_by_url_is_normalised_and_domain_aggregates(db: Database) -> None:
    with db.transaction() as session:
        save_classification(
            session,
            url="https://Example.com/a?utm_source=x",
            domain="example.com",
            classification=page("IAB19", 0.9, "GPU", 0.8),
            engine_version="t",
            classified_at=utcnow(),
        )
        save_classification(
            session,
            url="https://example.com/b",
            domain="example.com",
            classification=page("IAB17", 0.6, "GPU", 0.4),
            engine_version="t",
            classified_at=utcnow(),
        )
    with db.transaction() as session:
        by_url = classifications_for_urls(
            session, ["https://example.com/a", "https://example.com/missing"]
        )
        by_domain = classifications_for_domains(session, ["example.com", "other.com"])
    assert list(by_url) == ["https://example.com/a"]
    assert by_url["https://example.com/a"]["iab_categories"][0]["id"] == "IAB19"
    agg = by_domain["example.com"]
    assert [c["id"] for c in agg["iab_categories"]] == ["IAB19", "IAB17"]
    assert agg["iab_categories"][0]["confidence"] == 0.45
    assert agg["keywords"] == ["GPU"]
    assert agg["sentiment"] == {"label": "positive", "score": 0.6}
    assert "other.com" not in by_domain


def test_aggregate_neutral_sentiment_band() -> None:
    assert aggregate([page("IAB1", 1.0, "x", 0.5)])["sentiment"]["label"] == "neutral"


def test_request_classification_queues_unknown_urls_once(db: Database) -> None:
    from sqlalchemy import select

    from beacon.contextual.classification_repository import request_classification
    from beacon.contextual.models import UrlClassification

    with db.transaction() as session:
        assert (
            request_classification(
                session, [("https://a.com/x", "a.com"), ("https://A.com/x#frag", "a.com")]
            )
            == 1
        )
    with db.transaction() as session:
        assert (
            request_classification(
                session, [("https://a.com/x", "a.com"), ("https://b.com/", "b.com")]
            )
            == 1
        )
        rows = session.scalars(select(UrlClassification).order_by(UrlClassification.id)).all()
    assert [(r.url, r.status) for r in rows] == [
        ("https://a.com/x", "pending"),
        ("https://b.com/", "pending"),
    ]


def test_a_page_uploaded_with_a_unicode_host_and_seen_by_a_pixel_is_one_row(db: Database) -> None:
    from beacon.contextual.classification_repository import request_classification

    upload = ("https://bücher.de/neu", "bücher.de")
    pixel = ("https://xn--bcher-kva.de/neu", "xn--bcher-kva.de")  # what browsers send
    with db.transaction() as session:
        assert request_classification(session, [upload, pixel]) == 1


def test_a_row_stored_under_a_hosts_root_dot_is_still_found(db: Database) -> None:
    # Stored before 'example.com.' and 'example.com' were one key: reports and segments that
    # look pages up by URL still find it under its dotted key, the URL's own key first.
    import hashlib

    from beacon.contextual.models import OK, UrlClassification

    old_url = "https://example.com./a"
    old_hash = hashlib.sha1(old_url.encode(), usedforsecurity=False).hexdigest()
    with db.transaction() as session:
        session.add(
            UrlClassification(
                url_hash=old_hash, url=old_url, domain="example.com", status=OK,
                classification='{"iab_categories": [], "keywords": ["old"]}',
            )
        )  # fmt: skip
    with db.transaction() as session:
        found = classifications_for_urls(session, [old_url, "https://example.com/a"])
    assert found == {old_url: {"iab_categories": [], "keywords": ["old"]}}
    with db.transaction() as session:
        save_classification(
            session, url="https://example.com/a", domain="example.com",
            classification=page("IAB19", 0.9, "new", 0.8), engine_version="t",
            classified_at=utcnow(),
        )  # fmt: skip
    with db.transaction() as session:
        found = classifications_for_urls(session, [old_url, "https://example.com/a"])
    assert found[old_url]["keywords"] == ["new"] == found["https://example.com/a"]["keywords"]


def test_a_site_hold_leaves_a_row_given_up_meanwhile_as_it_is(db: Database) -> None:
    # The service reads the row, finds it not given up and records the hold; another process
    # gives the URL up between the two. The hold's upsert must not undo that (it used to set
    # a next attempt, and the dead page was fetched again).
    url, now = "https://gone.example/a", utcnow()
    with db.transaction() as session:
        record_failure(
            session, url=url, domain="gone.example", reason="HTTP status 404", retry_at=None,
            failing_since=now, failed_at=now,
        )  # fmt: skip
    with db.transaction() as session:
        row = record_hold(
            session, url=url, domain="gone.example", reason="not fetched: held",
            retry_at=now + timedelta(seconds=60),
        )  # fmt: skip
        assert (row.status, row.attempts, row.next_attempt_at) == ("error", 1, None)
        assert row.error == "HTTP status 404"
    with db.transaction() as session:  # a URL not given up takes the hold
        record_failure(
            session, url=url, domain="gone.example", reason="HTTP status 503",
            retry_at=now + timedelta(seconds=5), failing_since=now, failed_at=now,
        )  # fmt: skip
        row = record_hold(
            session, url=url, domain="gone.example", reason="not fetched: held",
            retry_at=now + timedelta(seconds=60),
        )  # fmt: skip
        assert row.error == "not fetched: held" and row.next_attempt_at is not None


def test_a_sites_hold_keeps_its_later_end_and_ended_holds_are_pruned(db: Database) -> None:
    now, busy, other = utcnow(), "https://busy.example", "https://other.example"

    def seconds(n: int) -> datetime:
        return now + timedelta(seconds=n)

    with db.transaction() as session:  # the later of one origin's holds in one write
        hold_sites(session, [(busy, seconds(60), "sixty"), (busy, seconds(30), "thirty")], now=now)
    with db.transaction() as session:  # a shorter hold stored after it does not shorten it
        hold_sites(session, [(busy, seconds(30), "thirty")], now=now)
        assert holds_of(session, [busy], now=now) == [(busy, seconds(60), "sixty")]
    with db.transaction() as session:
        hold_sites(session, [(other, seconds(10), "ten"), (busy, seconds(90), "ninety")], now=now)
        assert holds_of(session, [other, busy, "https://never.example"], now=now) == [
            (busy, seconds(90), "ninety"), (other, seconds(10), "ten")
        ]  # fmt: skip
        assert holds_of(session, [other], now=now) == [(other, seconds(10), "ten")]
    later = seconds(20)  # the other's hold has ended: ignored on read, deleted by a write
    with db.transaction() as session:
        assert holds_of(session, [busy, other], now=later) == [(busy, seconds(90), "ninety")]
        assert len(session.scalars(select(HeldSite.origin)).all()) == 2
        hold_sites(session, [], now=later)
        assert session.scalars(select(HeldSite.origin)).all() == [busy]


def test_writes_of_a_url_stored_under_a_hosts_root_dot_go_to_that_row(db: Database) -> None:
    # Queueing, storing a result or a failure of the dotted URL wrote under its dotless key:
    # a second row beside the older one, fetched and classified again.
    import hashlib

    from sqlalchemy import select

    from beacon.contextual.classification_repository import (
        record_failure,
        request_classification,
    )
    from beacon.contextual.models import OK, UrlClassification

    old_url = "https://example.com./a"
    old_hash = hashlib.sha1(old_url.encode(), usedforsecurity=False).hexdigest()
    with db.transaction() as session:
        session.add(
            UrlClassification(
                url_hash=old_hash, url=old_url, domain="example.com", status=OK,
                classification='{"iab_categories": [], "keywords": ["old"]}',
            )
        )  # fmt: skip
    with db.transaction() as session:
        assert request_classification(session, [("https://EXAMPLE.com./a#x", "example.com")]) == 0
        saved = save_classification(
            session, url=old_url, domain="example.com",
            classification=page("IAB19", 0.9, "new", 0.8), engine_version="t",
            classified_at=utcnow(),
        )  # fmt: skip
        assert saved.url_hash == old_hash
        failed = record_failure(
            session, url=old_url, domain="example.com", reason="HTTP status 503",
            retry_at=None, failing_since=utcnow(), failed_at=utcnow(),
        )  # fmt: skip
        assert failed.url_hash == old_hash and failed.status == OK
        held = record_hold(
            session, url=old_url, domain="example.com", reason="not fetched: held",
            retry_at=utcnow(),
        )  # fmt: skip
        assert held.url_hash == old_hash
    with db.transaction() as session:
        assert session.scalars(select(UrlClassification.url)).all() == [old_url]
        by_domain = classifications_for_domains(session, ["example.com"])
    assert by_domain["example.com"]["keywords"] == ["new"]


def test_a_page_stored_under_a_hosts_root_dot_and_its_own_key_counts_once_for_its_domain(
    db: Database,
) -> None:
    # Written before writes found the dotted row: the store can hold the page under both
    # keys, and the domain's aggregate counted it twice (its older result as a second page).
    import hashlib

    from beacon.contextual.models import OK, UrlClassification

    old_url = "https://example.com./a"
    with db.transaction() as session:
        session.add(
            UrlClassification(
                url_hash=hashlib.sha1(old_url.encode(), usedforsecurity=False).hexdigest(),
                url=old_url, domain="example.com", status=OK,
                classification=orjson.dumps(page("IAB17", 0.6, "old", 0.2)).decode(),
            )
        )  # fmt: skip
        for url, keyword in (("https://example.com/a", "new"), ("https://example.com/b", "b")):
            save_classification(
                session, url=url, domain="example.com",
                classification=page("IAB19", 0.9, keyword, 0.8), engine_version="t",
                classified_at=utcnow(),
            )  # fmt: skip
    with db.transaction() as session:
        aggregate_ = classifications_for_domains(session, ["example.com"])["example.com"]
    assert aggregate_["keywords"] == ["new", "b"]
    assert [c["id"] for c in aggregate_["iab_categories"]] == ["IAB19"]


def test_a_page_written_back_under_its_pre_0209_key_counts_once_for_its_domain(
    db: Database,
) -> None:
    # A worker (or an older server) running through migration 0209 writes its result back under
    # the claimed row's old key ('/%c3%bc', '/ü'): beside the re-keyed row, a second page of the
    # domain, counted twice in its aggregate. Such a row alone still counts.
    from beacon.contextual.classification_repository import stored_key

    with db.transaction() as session:
        for key, keyword in (
            (stored_key("https://example.com/%C3%BC"), "new"),
            (stored_key("https://example.com/%c3%bc"), "lower"),
            (stored_key("https://example.com/ü"), "raw"),
            (stored_key("https://example.com/b"), "b"),
            (stored_key("https://example.com/%e9t%e9"), "alone"),
        ):
            save_classification(
                session, url=key[0], domain="example.com", key=key,
                classification=page("IAB19", 0.9, keyword, 0.8), engine_version="t",
                classified_at=utcnow(),
            )  # fmt: skip
    with db.transaction() as session:
        aggregate_ = classifications_for_domains(session, ["example.com"])["example.com"]
    assert aggregate_["keywords"] == ["new", "b", "alone"]


def test_a_pages_rows_under_two_older_keys_alone_count_once_for_its_domain(
    db: Database,
) -> None:
    # Two pre-0209 spellings of one page ('/%c3%a9', '/é') and no row under its own key
    # ('/%C3%A9'): one page of the domain, counted once (the first row), not twice.
    from beacon.contextual.classification_repository import stored_key

    with db.transaction() as session:
        for key, keyword in (
            (stored_key("https://example.com/%c3%a9"), "lower"),
            (stored_key("https://example.com/é"), "raw"),
            (stored_key("https://example.com/b"), "b"),
        ):
            save_classification(
                session, url=key[0], domain="example.com", key=key,
                classification=page("IAB19", 0.9, keyword, 0.8), engine_version="t",
                classified_at=utcnow(),
            )  # fmt: skip
    with db.transaction() as session:
        aggregate_ = classifications_for_domains(session, ["example.com"])["example.com"]
    assert aggregate_["keywords"] == ["lower", "b"]


def test_a_raw_path_and_its_escaped_form_queue_and_read_one_row(db: Database) -> None:
    # 'example.com/ü' copied from an address bar and a pixel's '/%C3%BC' (a browser's
    # location.href) are one page: one queued row, one result read by either spelling.
    from beacon.contextual.classification_repository import request_classification
    from beacon.contextual.models import UrlClassification

    upload = ("https://example.com/a b/ü", "example.com")
    pixel = ("https://example.com/a%20b/%C3%BC", "example.com")
    with db.transaction() as session:
        assert request_classification(session, [upload, pixel]) == 1
        assert (
            request_classification(session, [pixel, ("https://example.com/a%20b/%c3%bc", "")]) == 0
        )
        save_classification(
            session, url=pixel[0], domain="example.com",
            classification=page("IAB19", 0.9, "own", 0.8), engine_version="t",
            classified_at=utcnow(),
        )  # fmt: skip
    with db.transaction() as session:
        assert session.scalars(select(UrlClassification.url)).all() == [pixel[0]]
        found = classifications_for_urls(session, [upload[0], "https://Example.com/a b/ü#x"])
    assert [page_["keywords"] for page_ in found.values()] == [["own"], ["own"]]
