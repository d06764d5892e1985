"""classify_url through the store, against a real local web server: caching, TTL, back-off,
SSRF refusal, and the periodic classifier that picks up pixel and inventory URLs."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import OperationalError
from tests.contextual.site.server import LocalSite

from beacon.contextual import classification_repository as store
from beacon.contextual import engine, fetch, service
from beacon.contextual import repository as repository_of_holds
from beacon.contextual.models import ERROR, OK, PENDING, HeldSite, UrlClassification
from beacon.contextual.pages import PageResult
from beacon.core import auth
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.timefmt import utcnow
from beacon.pixel import classification as repository
from beacon.pixel.classification import classify_due
from beacon.pixel.models import PixelCampaign, PixelRollup


def classify(db: Database, settings: Settings, url: str) -> service.UrlOutcome:
    return service.classify_url(db=db, settings=settings, url=url)


def forget_holds(db: Database) -> None:
    """Forget every site's hold, in this process and in the store (and the robots.txt cache)."""
    fetch.clear_robots_cache()
    with db.transaction() as session:
        session.execute(delete(HeldSite))


def row_of(db: Database, url: str) -> UrlClassification:
    with db.transaction() as session:
        row = store.stored_row(session, url)
    assert row is not None
    return row


def test_fetches_classifies_stores_then_serves_from_cache(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    url = site.url("/football.html?utm_source=newsletter")
    first = classify(db, open_settings, url)
    assert first.error is None and not first.cached
    assert first.url == site.url("/football.html")  # normalised: tracking parameters dropped
    assert first.classification is not None
    categories = first.classification["iab_categories"]
    assert categories[0]["id"].split("-")[0] == "IAB17"
    assert categories[0]["name"] == "Sports"
    assert "Premier League" in first.classification["keywords"]
    assert {"Liverpool", "Mohamed Salah"} <= {e["name"] for e in first.classification["entities"]}
    assert first.engine_version == engine.ENGINE_VERSION

    second = classify(db, open_settings, site.url("/football.html"))
    assert second.cached and second.classification == first.classification
    assert second.classified_at == first.classified_at
    assert site.hits["/football.html"] == 1


def test_extracted_title_and_language_are_kept_with_the_classification(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    title = "Late winner sends Liverpool top of the Premier League"
    first = classify(db, open_settings, site.url("/football.html"))
    assert (first.title, first.language, first.cached) == (title, "en", False)
    # The title is not on the wire form; the language is, after the seed's four fields.
    assert first.classification is not None
    assert list(first.classification) == [
        "iab_categories", "keywords", "entities", "sentiment", "language", "notes", "brand_safety"
    ]  # fmt: skip
    assert (first.classification["language"], first.classification["notes"]) == ("en", [])
    second = classify(db, open_settings, site.url("/football.html"))
    assert (second.title, second.language, second.cached) == (title, "en", True)
    assert (
        row_of(db, site.url("/football.html")).title,
        row_of(db, site.url("/football.html")).language,
    ) == (title, "en")


def test_stale_or_other_engine_version_is_fetched_again(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    url = site.url("/gadgets.html")
    classify(db, open_settings, url)
    expired = utcnow() - timedelta(hours=open_settings.classification_ttl_hours, minutes=1)
    with db.transaction() as session:
        session.execute(update(UrlClassification).values(classified_at=expired))
    refreshed = classify(db, open_settings, url)
    assert not refreshed.cached and site.hits["/gadgets.html"] == 2
    assert refreshed.classified_at is not None and refreshed.classified_at > expired

    with db.transaction() as session:
        session.execute(update(UrlClassification).values(engine_version="older-engine"))
    assert not classify(db, open_settings, url).cached
    assert site.hits["/gadgets.html"] == 3
    assert classify(db, open_settings, url).cached


def test_failure_is_recorded_with_exponential_back_off(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    url = site.url("/broken.html")
    before = utcnow()
    outcome = classify(db, open_settings, url)
    assert outcome.classification is None
    assert outcome.error is not None and "HTTP status 500" in outcome.error
    row = row_of(db, url)
    assert (row.status, row.attempts, row.error) == (ERROR, 1, outcome.error)
    assert row.next_attempt_at is not None
    base = open_settings.classification_retry_base_seconds
    assert (
        before + timedelta(seconds=base)
        <= row.next_attempt_at
        <= utcnow() + timedelta(seconds=base)
    )

    # While backing off, the recorded reason is answered without fetching.
    again = classify(db, open_settings, url)
    assert again.error == outcome.error and again.retry_at == row.next_attempt_at
    assert site.hits["/broken.html"] == 1

    with db.transaction() as session:
        session.execute(update(UrlClassification).values(next_attempt_at=utcnow()))
    classify(db, open_settings, url)
    row = row_of(db, url)
    assert site.hits["/broken.html"] == 2 and row.attempts == 2
    assert row.next_attempt_at is not None
    assert row.next_attempt_at >= utcnow() + timedelta(seconds=2 * base - 5)


def fail_again(db: Database, settings: Settings, url: str, *, times: int) -> UrlClassification:
    """Fetch ``url`` ``times`` more, each as soon as the store would let it be retried."""
    url_hash = store.url_key(url)[1]
    for _ in range(times):
        with db.transaction() as session:
            session.execute(
                update(UrlClassification)
                .where(UrlClassification.url_hash == url_hash)
                .values(next_attempt_at=utcnow())
            )
        assert classify(db, settings, url).error is not None
    return row_of(db, url)


def test_a_site_down_keeps_being_retried_while_a_missing_page_is_given_up(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    # Every failure counted alike: after 6 failures (about an hour of back-off) a page whose
    # site was down for that hour, or whose robots.txt answered 5xx, was never fetched again.
    last = open_settings.classification_max_attempts
    started = utcnow()
    down = fail_again(db, open_settings, site.url("/broken.html"), times=last)
    assert down.attempts == last and down.next_attempt_at is not None
    assert down.failing_since is not None and started <= down.failing_since <= utcnow()
    gone = fail_again(db, open_settings, site.url("/missing.html"), times=last)
    assert gone.attempts == last and gone.next_attempt_at is None
    not_html = fail_again(db, open_settings, site.url("/report.pdf"), times=last)
    assert not_html.next_attempt_at is None

    site.robots_status = 503
    fetch.clear_robots_cache()  # the earlier fetches cached "no rules" (a 404)
    robots = fail_again(db, open_settings, site.url("/football.html"), times=last)
    assert robots.error is not None and "robots.txt unavailable" in robots.error
    assert robots.next_attempt_at is not None and site.hits["/football.html"] == 0

    # Once the failures have lasted the whole window, a site down is given up too.
    window = timedelta(hours=open_settings.classification_retry_window_hours, minutes=1)
    with db.transaction() as session:
        session.execute(update(UrlClassification).values(failing_since=utcnow() - window))
    assert row_of(db, site.url("/broken.html")).next_attempt_at is not None
    assert fail_again(db, open_settings, site.url("/broken.html"), times=1).next_attempt_at is None
    down_row = row_of(db, site.url("/broken.html"))
    assert down_row.status == ERROR and down_row.attempts == last + 1


def test_retry_after_of_a_busy_or_throttling_site_is_honoured(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    # A 429 or 503 saying when to come back was asked again after the usual 60 s anyway.
    base = open_settings.classification_retry_base_seconds
    longest = open_settings.classification_retry_max_seconds
    url = site.url("/busy.html")

    def waits(status: int, retry_after: str | None, seconds: float) -> bool:
        """Whether the failure is retried ``seconds`` after it (to the second)."""
        site.busy_status, site.retry_after = status, retry_after
        with db.transaction() as session:
            session.execute(delete(UrlClassification))
        forget_holds(db)  # the hold the previous case's 429/503 put on the site
        before = utcnow()
        outcome = classify(db, open_settings, url)
        after = utcnow()
        assert outcome.error is not None and f"HTTP status {status}" in outcome.error
        assert outcome.retry_at is not None
        wait = timedelta(seconds=seconds)
        return before + wait - timedelta(seconds=1) <= outcome.retry_at <= after + wait

    assert waits(503, "3600", 3600)
    assert waits(429, format_datetime(utcnow() + timedelta(hours=2), usegmt=True), 7200)
    assert waits(429, "999999999999999999999", longest)  # bounded by the longest back-off
    assert waits(503, "1", base)  # never sooner than the back-off
    assert waits(503, "soon", base)  # unreadable: ignored
    assert waits(500, "3600", base)  # only 429 and 503 carry it

    site.robots_status = 503
    site.busy_status, site.retry_after = 200, "1800"
    forget_holds(db)
    with db.transaction() as session:
        session.execute(delete(UrlClassification))
    before = utcnow()
    robots = classify(db, open_settings, site.url("/football.html"))
    assert robots.error is not None and "robots.txt unavailable" in robots.error
    assert robots.retry_at is not None and robots.retry_at >= before + timedelta(seconds=1800)


def test_a_success_ends_the_run_of_failures(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    site.busy_status = 503
    assert fail_again(db, open_settings, site.url("/busy.html"), times=2).failing_since is not None
    with db.transaction() as session:
        store.save_classification(
            session, url=site.url("/busy.html"), domain="127.0.0.1",
            classification={"iab_categories": []}, engine_version="t", classified_at=utcnow(),
        )  # fmt: skip
    row = row_of(db, site.url("/busy.html"))
    assert (row.attempts, row.failing_since) == (0, None)


def test_failed_refresh_keeps_the_stale_classification(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    url = site.url("/broken.html")
    old = utcnow() - timedelta(days=30)
    stale = service.classify_content(
        text="Football match report", title="Football", settings=open_settings
    )
    with db.transaction() as session:
        store.save_classification(
            session,
            url=url,
            domain="127.0.0.1",
            classification=stale,
            engine_version=engine.ENGINE_VERSION,
            classified_at=old,
        )
    # The older result is answered, with the refresh's failure (hidden behind 'error' before).
    outcome = classify(db, open_settings, url)
    assert (outcome.error, outcome.classification, outcome.cached) == (None, stale, True)
    assert outcome.refresh_error is not None and "HTTP status 500" in outcome.refresh_error
    assert outcome.classified_at == old and outcome.retry_at is not None
    row = row_of(db, url)
    assert row.status == OK and row.error is not None and row.attempts == 1
    with db.transaction() as session:
        assert store.classifications_for_urls(session, [url]) == {url: stale}


def test_private_address_is_refused_unless_allowed(
    db: Database, settings: Settings, site: LocalSite
) -> None:
    outcome = classify(db, settings, site.url("/football.html"))
    assert outcome.error is not None
    assert "non-public address (loopback address)" in outcome.error
    assert site.hits["/football.html"] == 0


def test_redirect_is_followed_and_stored_under_the_requested_url(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    outcome = classify(db, open_settings, site.url("/moved/pasta.html"))
    assert outcome.classification is not None
    assert outcome.classification["iab_categories"][0]["id"].split("-")[0] == "IAB8"
    assert outcome.url == site.url("/moved/pasta.html")
    assert site.hits["/pasta.html"] == 1


def test_no_database_connection_is_held_while_fetching(
    db: Database, open_settings: Settings, site: LocalSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    held: list[int] = []
    fetch_and_classify = service.classify_page

    def watched(**kwargs: Any) -> PageResult:
        held.append(db.engine.pool.checkedout())  # type: ignore[attr-defined]
        return fetch_and_classify(**kwargs)

    monkeypatch.setattr(service, "classify_page", watched)
    assert classify(db, open_settings, site.url("/football.html")).classification is not None
    assert held == [0]
    assert row_of(db, site.url("/football.html")).status == OK


def test_save_and_failure_upsert_one_row_per_url(db: Database) -> None:
    url, page = "https://news.example/a", {"iab_categories": [], "keywords": []}
    with db.transaction() as session:
        store.request_classification(session, [(url, "news.example")])
        failed = store.record_failure(
            session, url=url, domain="news.example", reason="HTTP status 503", retry_at=None,
            failing_since=utcnow(), failed_at=utcnow(),
        )  # fmt: skip
        assert (failed.status, failed.attempts) == (ERROR, 1)
        saved = store.save_classification(
            session,
            url=url + "?utm_source=x",
            domain="news.example",
            classification=page,
            engine_version="t",
            classified_at=utcnow(),
        )
        assert (saved.id, saved.status, saved.attempts, saved.error) == (failed.id, OK, 0, None)
        again = store.record_failure(
            session, url=url, domain="news.example", reason="timeout", retry_at=None,
            failing_since=utcnow(), failed_at=utcnow(),
        )  # fmt: skip
        assert (again.status, again.attempts, again.error) == (OK, 1, "timeout")
        assert session.scalar(select(func.count()).select_from(UrlClassification)) == 1


def test_retry_schedule_gives_up_only_without_an_older_result(settings: Settings) -> None:
    now = utcnow()
    base = settings.classification_retry_base_seconds
    first = service.retry_at(settings=settings, failures=1, now=now, keep_trying=False)
    third = service.retry_at(settings=settings, failures=3, now=now, keep_trying=False)
    assert first == now + timedelta(seconds=base)
    assert third == now + timedelta(seconds=4 * base)
    last = settings.classification_max_attempts
    assert service.retry_at(settings=settings, failures=last, now=now, keep_trying=False) is None
    capped = service.retry_at(settings=settings, failures=last + 20, now=now, keep_trying=True)
    assert capped == now + timedelta(seconds=settings.classification_retry_max_seconds)

    # A failure that may pass is retried through the window, counted from the first failure.
    window = timedelta(hours=settings.classification_retry_window_hours)
    for since, retried in ((now - window + timedelta(minutes=1), True), (now - window, False)):
        later = service.retry_at(
            settings=settings, failures=last + 3, now=now, keep_trying=False, transient=True,
            failing_since=since,
        )  # fmt: skip
        assert (later is not None) == retried


def test_classify_content_reads_text_without_storing(db: Database, settings: Settings) -> None:
    result = service.classify_content(
        settings=settings,
        text="Heavy rain flooded the valley; rescue teams found victims and the death toll "
        "rose as grieving families lost their homes in the disaster.",
        title="Deadly floods devastate valley",
    )
    assert result["sentiment"]["label"] == "negative"
    with db.transaction() as session:
        assert session.scalar(select(UrlClassification.id)) is None


def add_rollups(db: Database, urls: list[str]) -> int:
    with db.transaction() as session:
        account_id = auth.issue_api_key(session=session, account_name="pix").account_id
        campaign = PixelCampaign(account_id=account_id, name="c", use_case="campaign_reporting")
        session.add(campaign)
        session.flush()
        for i, url in enumerate(urls):
            session.add(
                PixelRollup(
                    campaign_id=campaign.id,
                    date=dt.date(2026, 1, 15),
                    dims_hash=f"h{i}",
                    domain="127.0.0.1",
                    url=url,
                    hits=3,
                )
            )
        return campaign.id


def test_periodic_classifier_picks_up_new_pixel_urls(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    urls = [site.url("/football.html"), site.url("/pasta.html"), site.url("/report.pdf")]
    add_rollups(db, [*urls, ""])
    assert classify_due(db=db, settings=open_settings) == 3
    with db.transaction() as session:
        found = store.classifications_for_urls(session, urls)
        failed = store.stored_row(session, urls[2])
        by_domain = store.classifications_for_domains(session, ["127.0.0.1"])
    assert found[urls[0]]["iab_categories"][0]["id"].startswith("IAB17")
    assert found[urls[1]]["iab_categories"][0]["id"].startswith("IAB8")
    assert failed is not None and failed.status == ERROR
    assert failed.error is not None and "not an HTML page" in failed.error
    assert len(by_domain["127.0.0.1"]["iab_categories"]) == 2

    # Nothing is due now: classified rows are fresh, the failed one is backing off.
    assert classify_due(db=db, settings=open_settings) == 0
    assert site.hits["/football.html"] == 1 and site.hits["/report.pdf"] == 1


def test_pixel_url_on_a_private_address_is_never_fetched(
    db: Database, settings: Settings, site: LocalSite
) -> None:
    add_rollups(db, [site.url("/football.html")])
    assert classify_due(db=db, settings=settings) == 1
    row = row_of(db, site.url("/football.html"))
    assert row.status == ERROR and row.error is not None and "non-public address" in row.error
    assert site.hits["/football.html"] == 0


def test_queued_inventory_and_campaign_urls_are_classified_in_bounded_ticks(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    campaign_id = add_rollups(db, [site.url("/gadgets.html")])
    with db.transaction() as session:
        assert repository.queue_campaign_urls(session, campaign_id) == 1
        assert repository.queue_campaign_urls(session, campaign_id) == 0
        store.request_classification(
            session, [(site.url("/football.html"), "x.test"), (site.url("/pasta.html"), "x.test")]
        )
    small = open_settings.model_copy(update={"classification_tick_urls": 2})
    assert classify_due(db=db, settings=small) == 2
    assert classify_due(db=db, settings=small) == 1
    assert classify_due(db=db, settings=small) == 0
    with db.transaction() as session:
        statuses = set(session.scalars(select(UrlClassification.status)))
    assert statuses == {OK}
    assert PENDING not in statuses


def test_a_queued_url_with_a_space_before_its_query_gets_its_outcome(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    # An uploaded URL such as "https://x/article ?utm_source=nl": its key kept the space the
    # query left at the end of the path, and the result was stored under the key of the
    # stripped URL, so the queued row stayed pending and was fetched again on every lease.
    url = site.url("/football.html ?utm_source=newsletter")
    with db.transaction() as session:
        assert store.request_classification(session, [(url, "127.0.0.1")]) == 1
    assert classify_due(db=db, settings=open_settings) == 1
    with db.transaction() as session:
        statuses = list(session.scalars(select(UrlClassification.status)))
        found = store.classifications_for_urls(session, [url])
    assert statuses == [OK]
    assert found[url]["iab_categories"][0]["id"].startswith("IAB17")
    assert classify_due(db=db, settings=open_settings) == 0
    assert site.hits["/football.html%20"] == 1


def test_a_utf16_html_file_is_read_as_html(settings: Settings, tmp_path: Any) -> None:
    # Windows tools save HTML as UTF-16 with a byte order mark: its tags are not ASCII bytes.
    path = tmp_path / "page.html"
    html = (
        "<html><head><title>Premier League report</title></head><body><p>Liverpool won the "
        "football match with a late goal from Mohamed Salah at Anfield.</p></body></html>"
    )
    path.write_bytes(html.encode("utf-16"))
    result = service.classify_file(path=path, settings=settings)
    assert result.error is None and result.title == "Premier League report"


def test_a_url_failing_for_years_does_not_poison_the_tick(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    # A URL with an older result is retried for good; after 1,024 failures 2**(failures-1)
    # no longer fit a float and record_result raised OverflowError, rolling back the whole
    # tick's results every time the row came due (sooner with a short retry maximum).
    gone, fine = site.url("/missing.html"), site.url("/football.html")
    old = utcnow() - timedelta(days=30)
    with db.transaction() as session:
        store.save_classification(
            session, url=gone, domain="127.0.0.1", classification={"iab_categories": []},
            engine_version=engine.ENGINE_VERSION, classified_at=old,
        )  # fmt: skip
        session.execute(update(UrlClassification).values(attempts=1100))
        store.request_classification(session, [(fine, "127.0.0.1")])
    assert classify_due(db=db, settings=open_settings) == 2
    row = row_of(db, gone)
    assert row.status == OK and row.attempts == 1101 and row.next_attempt_at is not None
    assert row_of(db, fine).status == OK


def test_new_urls_are_classified_before_refreshes(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    # After an engine upgrade (or each TTL) every stored row is due again; ordered by id, the
    # refreshes of the old rows went first and a page never classified waited behind all of
    # them (for good, once the store outgrew what the ticks refresh in a TTL).
    old_pages = [site.url(p) for p in ("/pasta.html", "/gadgets.html", "/football.html")]
    new_page = site.url("/earthquake.html")
    with db.transaction() as session:
        for url in old_pages:
            store.save_classification(
                session, url=url, domain="127.0.0.1", classification={"iab_categories": []},
                engine_version="an-older-engine", classified_at=utcnow(),
            )  # fmt: skip
        store.request_classification(session, [(new_page, "127.0.0.1")])
    one = open_settings.model_copy(update={"classification_tick_urls": 1})
    assert classify_due(db=db, settings=one) == 1
    assert row_of(db, new_page).status == OK
    assert all(row_of(db, url).engine_version == "an-older-engine" for url in old_pages)


def test_a_row_keyed_by_an_older_normalisation_gets_its_own_result(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    # Rows stored before a normalisation change (a Unicode host before its IDNA form, a
    # trailing space before 3e74455) keep their old key: the tick stored their result under
    # the URL's key now, so the claimed row stayed pending and was fetched for good.
    old_url = site.url("/football.html ")
    old_hash = hashlib.sha1(old_url.encode(), usedforsecurity=False).hexdigest()
    assert store.url_key(old_url)[1] != old_hash
    with db.transaction() as session:
        session.add(
            UrlClassification(
                url_hash=old_hash, url=old_url, domain="127.0.0.1", status=PENDING, attempts=0
            )
        )
    assert classify_due(db=db, settings=open_settings) == 1
    with db.transaction() as session:
        row = session.scalar(
            select(UrlClassification).where(UrlClassification.url_hash == old_hash)
        )
        assert row is not None and row.status == OK and row.classification is not None
    assert classify_due(db=db, settings=open_settings) == 0


def test_a_robots_txt_asking_to_wait_is_not_asked_again_for_the_next_page(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    # Second review of 4cd29fb (docs/understand.md: "a page or robots.txt answering 429 or 503
    # with a Retry-After is asked again no sooner than it says"): the wait is recorded on the
    # page's row only; the 5xx robots.txt is not cached, so every other page of the site asks
    # for it again at once (a tick claims 32 URLs every 5 s).
    site.robots_status = 503
    site.retry_after = "3600"
    fetch.clear_robots_cache()
    for path in ("/football.html", "/pasta.html"):
        outcome = classify(db, open_settings, site.url(path))
        assert outcome.error is not None and "robots.txt unavailable" in outcome.error
    assert site.robots_hits == 1


def held_rows(db: Database, site: LocalSite, paths: list[str]) -> list[UrlClassification]:
    """The store rows of ``paths`` on ``site``, in that order."""
    return [row_of(db, site.url(path)) for path in paths]


def test_a_site_throttling_every_page_is_asked_once_per_wait(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    # A 429 (or 503) with its Retry-After delayed only that page's next attempt: a site
    # answering 429 on every page had its other pages fetched at tick speed, each one more
    # request it had asked not to get.
    site.every_page_status, site.retry_after = 429, "120"
    one_at_a_time = open_settings.model_copy(update={"classification_parallel_fetches": 1})
    paths = ["/football.html", "/pasta.html", "/gadgets.html"]
    with db.transaction() as session:
        store.request_classification(session, [(site.url(p), "127.0.0.1") for p in paths])
    before = utcnow()
    assert classify_due(db=db, settings=one_at_a_time) == 3
    after = utcnow()
    assert sum(site.hits.values()) == 1  # the first page's 429 holds the site
    rows = held_rows(db, site, paths)
    asked = [row for row in rows if row.attempts == 1]
    assert len(asked) == 1 and asked[0].error is not None and "HTTP status 429" in asked[0].error
    for row in rows:
        if row is asked[0]:
            continue
        # Not an attempt at the page: its count and retry window are left alone, and it is
        # due again when the site's wait ends. Never tried, it is a clean pending (it had
        # the hold's reason as its error, as if it had failed).
        assert (row.status, row.attempts, row.failing_since) == (PENDING, 0, None)
        assert row.error is None
        assert row.next_attempt_at is not None
        wait = timedelta(seconds=120)
        assert before + wait - timedelta(seconds=1) <= row.next_attempt_at <= after + wait

    # An explicit request meanwhile gets the hold's reason, and the site is not asked.
    outcome = classify(db, open_settings, site.url("/liga.html"))
    assert outcome.error is not None and outcome.error.startswith("not fetched:")
    assert outcome.classification is None and sum(site.hits.values()) == 1
    assert row_of(db, site.url("/liga.html")).attempts == 0


def test_a_sites_wait_holds_it_for_another_process_and_after_a_restart(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    # A site's hold lived in the memory of the process that met its 429 only: a standalone
    # worker beside the server, or either after a restart, asked the site again at once.
    site.every_page_status, site.retry_after = 429, "120"
    before = utcnow()
    assert classify(db, open_settings, site.url("/football.html")).error is not None
    after = utcnow()
    with db.transaction() as session:
        [(origin, until, reason)] = repository_of_holds.holds_of(session, [site.base], now=utcnow())
    assert origin == site.base
    assert reason.startswith(f"not fetched: {site.base} answered HTTP status 429")
    wait = timedelta(seconds=120)
    assert before + wait - timedelta(seconds=1) <= until <= after + wait + timedelta(seconds=1)

    fetch.clear_robots_cache()  # another process: no hold in its memory
    site.every_page_status = None  # a request would be answered, and counted
    asked = (sum(site.hits.values()), site.robots_hits)
    paths = ["/pasta.html", "/gadgets.html"]
    with db.transaction() as session:
        store.request_classification(session, [(site.url(p), "127.0.0.1") for p in paths])
    assert classify_due(db=db, settings=open_settings) == 2  # the worker's tick
    assert (sum(site.hits.values()), site.robots_hits) == asked  # no request reached the site
    for row in held_rows(db, site, paths):
        assert (row.status, row.attempts, row.error) == (PENDING, 0, None)
        assert row.next_attempt_at is not None
        assert abs(row.next_attempt_at - until) < timedelta(seconds=2)

    fetch.clear_robots_cache()  # and an API request in yet another one
    outcome = classify(db, open_settings, site.url("/liga.html"))
    assert outcome.error == reason and outcome.classification is None
    assert outcome.retry_at is not None and abs(outcome.retry_at - until) < timedelta(seconds=2)
    assert (sum(site.hits.values()), site.robots_hits) == asked


def test_a_round_is_recorded_when_its_holds_cannot_be_stored(
    db: Database, open_settings: Settings, site: LocalSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The holds met were written before the tick recorded the round: a failed write (a
    # locked SQLite database, a lost connection) threw the round's results away, and its
    # pages were fetched again once their claim ran out, the throttling site included.
    def locked(*args: object, **kwargs: object) -> None:
        raise OperationalError("INSERT INTO contextual_site_holds", {}, Exception("locked"))

    monkeypatch.setattr(repository_of_holds, "hold_sites", locked)
    site.every_page_status, site.retry_after = 429, "120"
    paths = ["/football.html", "/pasta.html"]
    with db.transaction() as session:
        store.request_classification(session, [(site.url(p), "127.0.0.1") for p in paths])
    one_at_a_time = open_settings.model_copy(update={"classification_parallel_fetches": 1})
    assert classify_due(db=db, settings=one_at_a_time) == 2
    rows = held_rows(db, site, paths)
    assert sorted(row.attempts for row in rows) == [0, 1]  # one asked, the other held
    assert all(row.next_attempt_at is not None and row.next_attempt_at > utcnow() for row in rows)
    assert sum(site.hits.values()) == 1


def test_a_stored_hold_that_ended_does_not_hold_its_site(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    site.every_page_status, site.retry_after = 503, "120"
    assert classify(db, open_settings, site.url("/football.html")).error is not None
    with db.transaction() as session:
        session.execute(update(HeldSite).values(held_until=utcnow() - timedelta(seconds=1)))
    fetch.clear_robots_cache()  # a restart, after the wait
    site.every_page_status = None
    outcome = classify(db, open_settings, site.url("/pasta.html"))
    assert outcome.error is None and outcome.classification is not None
    assert site.hits["/pasta.html"] == 1


def test_a_site_hold_ends_with_its_wait_and_its_pages_are_fetched(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    site.every_page_status, site.retry_after = 503, "1"
    one_at_a_time = open_settings.model_copy(update={"classification_parallel_fetches": 1})
    paths = ["/football.html", "/pasta.html", "/gadgets.html"]
    with db.transaction() as session:
        store.request_classification(session, [(site.url(p), "127.0.0.1") for p in paths])
    assert classify_due(db=db, settings=one_at_a_time) == 3
    assert sum(site.hits.values()) == 1
    site.every_page_status = None  # the site recovers
    time.sleep(1.2)
    # The held pages are due once the wait ends (not after the 60 s back-off of a failure);
    # the page that answered 503 waits its own back-off.
    assert classify_due(db=db, settings=one_at_a_time) == 2
    statuses = sorted(row.status for row in held_rows(db, site, paths))
    assert statuses == [ERROR, OK, OK] and sum(site.hits.values()) == 3


def test_a_429_without_retry_after_holds_its_site_for_a_short_default_wait(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    site.busy_status = 429
    before = utcnow()
    assert classify(db, open_settings, site.url("/busy.html")).error is not None
    held = classify(db, open_settings, site.url("/football.html"))
    after = utcnow()
    assert held.error is not None and held.error.startswith("not fetched:")
    assert site.hits["/football.html"] == 0
    default = timedelta(seconds=fetch.FetchSettings().site_wait_default)
    assert held.retry_at is not None
    assert before + default - timedelta(seconds=1) <= held.retry_at <= after + default

    # A wait longer than the longest back-off is held that long only.
    forget_holds(db)
    with db.transaction() as session:
        session.execute(delete(UrlClassification))
    site.busy_status, site.retry_after = 503, "999999999"
    short = open_settings.model_copy(update={"classification_retry_max_seconds": 300})
    before = utcnow()
    assert classify(db, short, site.url("/busy.html")).error is not None
    held = classify(db, short, site.url("/pasta.html"))
    after = utcnow()
    assert held.error is not None and held.error.startswith("not fetched:")
    assert held.retry_at is not None
    longest = timedelta(seconds=300)
    assert before + longest - timedelta(seconds=1) <= held.retry_at <= after + longest
    assert site.hits["/pasta.html"] == 0

    # One page's day-long wait (a maintenance path) holds the rest of its site for an hour at
    # most, as a robots.txt 503 would; the page itself keeps its whole wait.
    forget_holds(db)
    with db.transaction() as session:
        session.execute(delete(UrlClassification))
    site.busy_status, site.retry_after = 503, "86400"
    before = utcnow()
    busy = classify(db, open_settings, site.url("/busy.html"))
    held = classify(db, open_settings, site.url("/gadgets.html"))
    after = utcnow()
    hour, day = timedelta(hours=1), timedelta(days=1)
    assert busy.retry_at is not None and before + day - timedelta(seconds=1) <= busy.retry_at
    assert held.error is not None and held.error.startswith("not fetched:")
    assert held.retry_at is not None
    assert before + hour - timedelta(seconds=1) <= held.retry_at <= after + hour


def test_a_held_page_keeps_its_attempts_and_its_retry_window(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    failing = fail_again(db, open_settings, site.url("/broken.html"), times=2)
    last = open_settings.classification_max_attempts
    gone = fail_again(db, open_settings, site.url("/missing.html"), times=last)
    assert gone.next_attempt_at is None  # given up
    site.busy_status, site.retry_after = 429, "120"
    assert classify(db, open_settings, site.url("/busy.html")).error is not None

    held = fail_again(db, open_settings, site.url("/broken.html"), times=1)
    assert (held.attempts, held.failing_since) == (2, failing.failing_since)
    assert held.error is not None and held.error.startswith("not fetched:")
    assert held.next_attempt_at is not None and site.hits["/broken.html"] == 2
    # A URL given up stays given up (a hold is not a reason to try it again), with its reason.
    eager = open_settings.model_copy(update={"classification_given_up_retry_seconds": 0})
    outcome = classify(db, eager, site.url("/missing.html"))
    assert outcome.error is not None and outcome.error.startswith("not fetched:")
    still = row_of(db, site.url("/missing.html"))
    assert (still.attempts, still.next_attempt_at, still.error) == (last, None, gone.error)
    assert site.hits["/missing.html"] == last


def test_a_given_up_url_is_not_fetched_again_for_each_api_request(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    # An explicit request fetched a URL the worker had given up every time: a client looping
    # on a dead page hammered its site without any back-off.
    last = open_settings.classification_max_attempts
    gone = fail_again(db, open_settings, site.url("/missing.html"), times=last)
    down = fail_again(db, open_settings, site.url("/broken.html"), times=last)
    window = timedelta(hours=open_settings.classification_retry_window_hours, minutes=1)
    with db.transaction() as session:
        session.execute(update(UrlClassification).values(failing_since=utcnow() - window))
    down = fail_again(db, open_settings, site.url("/broken.html"), times=1)
    assert gone.next_attempt_at is None and down.next_attempt_at is None  # both given up
    for _ in range(3):
        for row in (gone, down):
            outcome = classify(db, open_settings, row.url)
            assert (outcome.error, outcome.cached, outcome.classification) == (
                row.error,
                True,
                None,
            )
    assert (site.hits["/missing.html"], site.hits["/broken.html"]) == (last, last + 1)

    # Once the wait since the last failure has passed, a request fetches it once more.
    wait = open_settings.classification_given_up_retry_seconds
    with db.transaction() as session:
        session.execute(
            update(UrlClassification).values(last_failure_at=utcnow() - timedelta(seconds=wait + 1))
        )
    for _ in range(2):
        assert classify(db, open_settings, gone.url).error == gone.error
    assert site.hits["/missing.html"] == last + 1
    eager = open_settings.model_copy(update={"classification_given_up_retry_seconds": 0})
    assert classify(db, eager, gone.url).error == gone.error
    assert site.hits["/missing.html"] == last + 2


def test_a_sites_stored_hold_is_read_however_many_other_sites_are_held(
    db: Database, open_settings: Settings, site: LocalSite
) -> None:
    # A process read the 1,024 holds ending last, whatever it was about to fetch: sites held
    # longer (a wildcard host's subdomains all answering 429) crowded the real one out, and
    # a restarted process asked that site again at once.
    site.every_page_status, site.retry_after = 429, "120"
    assert classify(db, open_settings, site.url("/football.html")).error is not None
    later = utcnow() + timedelta(hours=1)
    crowd = [(f"https://s{n}.crowd.example", later, "not fetched: held") for n in range(1500)]
    with db.transaction() as session:
        repository_of_holds.hold_sites(session, crowd, now=utcnow())
    fetch.clear_robots_cache()  # another process: no hold in its memory
    site.every_page_status = None
    asked = sum(site.hits.values())
    outcome = classify(db, open_settings, site.url("/pasta.html"))
    assert outcome.error is not None and outcome.error.startswith("not fetched:")
    assert sum(site.hits.values()) == asked
