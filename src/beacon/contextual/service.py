"""Classify URLs through the store: serve fresh results, fetch and classify the rest, record
failures with exponential back-off. Fetching runs with bounded parallelism and per-page
timeouts, so one slow site never holds up the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from beacon.contextual import classification_repository, engine, fetch, pages, process, repository
from beacon.contextual.fetch import FetchSettings, decode_html
from beacon.contextual.models import OK, UrlClassification
from beacon.contextual.pages import PageResult, classify_here
from beacon.core.config import Settings
from beacon.core.db import Database, Transaction, slices
from beacon.core.permissions import CREDENTIAL_ROLE, Action, Role, require
from beacon.core.registrable_domains import registrable_domain
from beacon.core.timefmt import utcnow

log = logging.getLogger("beacon.contextual")


@dataclass(frozen=True, slots=True)
class UrlOutcome:
    """What ``classify_url`` answers: a classification, or the recorded reason it failed."""

    url: str
    classification: dict[str, Any] | None
    classified_at: datetime | None
    engine_version: str | None
    cached: bool
    error: str | None = None
    retry_at: datetime | None = None
    # What extraction read from the page (console only; the /v1 response does not carry them).
    title: str = ""
    language: str | None = None
    # Set when ``classification`` is an older result served because its refresh failed.
    refresh_error: str | None = None


def fetch_settings(settings: Settings) -> FetchSettings:
    """The fetcher's limits and SSRF policy from the ``BEACON_FETCH_*`` settings."""
    return FetchSettings(
        allow_private_networks=settings.fetch_allow_private_networks,
        connect_timeout=settings.fetch_connect_timeout,
        read_timeout=settings.fetch_read_timeout,
        total_timeout=settings.fetch_total_timeout,
        respect_robots=settings.fetch_respect_robots,
        site_wait_max=settings.classification_retry_max_seconds,
    )


def domain_of(url: str) -> str:
    """The publisher domain a URL's classification is aggregated under (eTLD+1, else host)."""
    return registrable_domain(url) or (urlsplit(url).hostname or "")


def classify_content(
    *, text: str, title: str = "", settings: Settings, role: Role | str = CREDENTIAL_ROLE
) -> dict[str, Any]:
    """Classify text the caller already has; nothing is fetched or stored."""
    require(role, Action.classify)
    return engine.classify_text(
        text=text, title=title, min_confidence=settings.classification_min_confidence
    ).to_dict()


# A call to the classifier's child carries at most this many rounds of parallel fetches: the
# worker threads' calls take turns in the child, so none waits behind a whole batch.
CHILD_CALL_ROUNDS = 4


def classify_pages(
    *, urls: Sequence[str], settings: Settings, transaction: Transaction | None
) -> list[PageResult]:
    """Fetch and classify ``urls`` with at most ``classification_parallel_fetches`` at once:
    in the classifier's child process while this process also serves HTTP
    (``contextual/process.py``), in calls of ``CHILD_CALL_ROUNDS`` rounds, else here. The
    sites the store holds are honoured, and the holds met are stored, in transactions of
    ``transaction`` (``_sharing_holds``); None (the command line) shares none."""
    if not urls:
        return []
    limits = fetch_settings(settings)
    parallel = settings.classification_parallel_fetches
    min_confidence = settings.classification_min_confidence
    child = process.current()
    if child is None:
        return _sharing_holds(
            transaction, urls, lambda: classify_here(list(urls), limits, parallel, min_confidence)
        )
    return _sharing_holds(
        transaction,
        urls,
        lambda: _classify_in_child(child, urls, limits, parallel, min_confidence),
    )


def _classify_in_child(
    child: process.ClassifierProcess,
    urls: Sequence[str],
    limits: FetchSettings,
    parallel: int,
    min_confidence: float | None,
) -> list[PageResult]:
    # A site's hold (its 429/503) is per process: pages of a site held here are not sent to
    # the child, the child holds this process's sites too (a redirect into one is not
    # followed), and a hold the child met holds the site here too (API requests fetch here).
    held = {url: pages.held_result(url) for url in urls}
    to_fetch = [url for url in urls if held[url] is None]
    fetched: list[PageResult] = []
    for part in slices(to_fetch, CHILD_CALL_ROUNDS * parallel):
        fetched += child.classify(part, limits, parallel, min_confidence, fetch.site_holds())
    for result in fetched:
        if result.hold is not None:  # less the time since the child met it
            since = (utcnow() - result.classified_at).total_seconds()
            fetch.adopt_hold(replace(result.hold, seconds=result.hold.seconds - since))
    answers = iter(fetched)
    return [held[url] or next(answers) for url in urls]


def classify_page(*, url: str, settings: Settings, transaction: Transaction | None) -> PageResult:
    """Fetch and classify one page a caller waits for, in this process even where the worker's
    pages go to the classifier's child: it must not queue behind the worker's batches there.
    Sites are held as for ``classify_pages``."""
    limits = fetch_settings(settings)
    min_confidence = settings.classification_min_confidence
    return _sharing_holds(
        transaction, [url], lambda: classify_here([url], limits, 1, min_confidence)
    )[0]


def _sharing_holds(
    transaction: Transaction | None,
    urls: Sequence[str],
    classify: Callable[[], list[PageResult]],
) -> list[PageResult]:
    """``classify()``'s results for ``urls``, with the sites held by every process of the
    installation: a site's 429/503 holds it in the memory of the process that met it
    (``fetch``), so the stored holds in force on the urls' sites are adopted here first, and
    the holds met are stored after, where a standalone worker, the server and a restarted
    process all read them. One short transaction each side (none while fetching); the store
    keeps absolute UTC ends, the fetcher seconds left. A redirect into a site held by another
    process only is followed (that process's memory is not read)."""
    if transaction is None:
        return classify()
    with transaction() as session:
        stored = repository.holds_of(
            session, {o for o in map(fetch.url_origin, urls) if o is not None}, now=utcnow()
        )
    now = utcnow()
    for origin, until, reason in stored:
        seconds = (until - now).total_seconds()
        fetch.adopt_hold(fetch.SiteHold(origin=origin, reason=reason, seconds=seconds))
    results = classify()
    met = [
        (r.hold.origin, r.classified_at + timedelta(seconds=r.hold.seconds), r.hold.reason)
        for r in results
        if r.hold is not None
    ]
    if met:
        # Best effort: the holds stay in this process's memory, and the round's results must
        # reach the caller (a tick or batch records them next) whatever became of this write.
        try:
            with transaction() as session:
                repository.hold_sites(session, met, now=utcnow())
        except SQLAlchemyError:
            log.warning("could not store %d sites' holds for the other processes", len(met))
    return results


def child_queue_seconds(settings: Settings) -> float:
    """The longest a worker's call may queue for the classifier's child: the other worker
    threads' calls ahead of it, each at most ``CHILD_CALL_ROUNDS`` rounds of fetches."""
    if process.current() is None:
        return 0.0
    ahead = settings.worker_concurrency - 1
    return ahead * CHILD_CALL_ROUNDS * settings.fetch_total_timeout


# A local file is read up to the fetcher's page cap too; HTML is told from text by its tags.
FILE_MAX_BYTES = FetchSettings().max_bytes
_HTML_MARKERS = ("<html", "<body", "<!doctype html", "<p>", "<p ", "<div", "<article")


def classify_file(*, path: Path, settings: Settings) -> PageResult:
    """Classify a local HTML or plain-text file, as ``classify_pages`` does a fetched page."""
    try:
        with path.open("rb") as handle:
            body = handle.read(FILE_MAX_BYTES)
    except OSError as exc:
        reason = f"cannot read {path}: {exc.strerror or exc}"
        if isinstance(exc, FileNotFoundError):
            reason += " (a URL needs http:// or https://)"
        return PageResult(url=str(path), classification=None, error=reason, classified_at=utcnow())
    text = decode_html(body)
    min_confidence = settings.classification_min_confidence
    try:
        # The decoded text, not the bytes: a UTF-16 file's tags are not ASCII bytes.
        if any(marker in text[:4096].lower() for marker in _HTML_MARKERS):
            result = engine.classify_html(
                html=text, url=path.resolve().as_uri(), min_confidence=min_confidence
            )
        else:
            result = engine.classify_text(text=text, min_confidence=min_confidence)
    except Exception as exc:
        log.exception("classification failed", extra={"path": str(path)})
        reason = f"classification failed: {type(exc).__name__}"
        return PageResult(url=str(path), classification=None, error=reason, classified_at=utcnow())
    return PageResult(
        url=str(path),
        classification=result.to_dict(),
        error=None,
        classified_at=utcnow(),
        title=result.title,
        language=result.language,
    )


def retry_at(
    *,
    settings: Settings,
    failures: int,
    now: datetime,
    keep_trying: bool,
    transient: bool = False,
    failing_since: datetime | None = None,
    retry_after: float | None = None,
) -> datetime | None:
    """When to fetch again after ``failures`` consecutive failures; None means give up.

    A URL that still has an older classification keeps being retried at the longest delay,
    so its stale result is eventually refreshed. Any other URL is given up after
    ``classification_max_attempts`` failures, except that a ``transient`` failure (a site
    down or overloaded, robots.txt 5xx) is retried until the run of failures, begun at
    ``failing_since``, has also lasted ``classification_retry_window_hours``: six failures
    are only an hour of back-off, and an outage longer than that lost its pages for good.
    ``retry_after`` (the seconds a 429 or 503 asked for) lengthens the wait, up to
    ``classification_retry_max_seconds``; it never shortens the back-off.
    """
    window = timedelta(hours=settings.classification_retry_window_hours)
    within_window = transient and now - (failing_since or now) < window
    if failures >= settings.classification_max_attempts and not (keep_trying or within_window):
        return None
    # The exponent is capped: a URL that keeps its older result is retried for good, and past
    # 1,024 failures 2**(failures-1) no longer fits a float (OverflowError in the tick).
    exponent = min(max(failures - 1, 0), 64)
    delay = min(
        settings.classification_retry_base_seconds * 2**exponent,
        settings.classification_retry_max_seconds,
    )
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.classification_retry_max_seconds))
    return now + timedelta(seconds=delay)


def record_result(
    session: Session,
    *,
    settings: Settings,
    result: PageResult,
    domain: str,
    key: tuple[str, str] | None = None,
) -> UrlClassification:
    """Store a page result: the classification, or the failure with its next retry time;
    under ``key`` (a claimed row's url and hash) when given, else the URL's key."""
    if result.classification is not None:
        return classification_repository.save_classification(
            session,
            url=result.url,
            domain=domain,
            classification=result.classification,
            engine_version=engine.ENGINE_VERSION,
            classified_at=result.classified_at,
            title=result.title,
            language=result.language,
            key=key,
        )
    assert result.error is not None
    row = classification_repository.stored_row(session, result.url, key=key)
    if result.held:
        return _record_hold(
            session, settings=settings, result=result, row=row, domain=domain, key=key
        )
    failures = (row.attempts if row is not None else 0) + 1
    has_result = row is not None and row.status == OK
    # A row failing since before the column existed starts its window now.
    failing_since = (row.failing_since if row is not None and row.attempts else None) or (
        result.classified_at
    )
    return classification_repository.record_failure(
        session,
        url=result.url,
        domain=domain,
        reason=result.error,
        retry_at=retry_at(
            settings=settings,
            failures=failures,
            now=result.classified_at,
            keep_trying=has_result,
            transient=result.transient,
            failing_since=failing_since,
            retry_after=result.retry_after,
        ),
        failing_since=failing_since,
        failed_at=result.classified_at,
        key=key,
    )


def _record_hold(
    session: Session,
    *,
    settings: Settings,
    result: PageResult,
    row: UrlClassification | None,
    domain: str,
    key: tuple[str, str] | None,
) -> UrlClassification:
    """A page not fetched because its site is held (another page's 429/503): the site was
    not asked, so no attempt is counted and the retry window's start is not moved; it is tried
    again when the hold ends. A URL the worker gave up stays given up."""
    assert result.error is not None
    if row is not None and classification_repository.given_up(row):
        return row
    wait = result.retry_after or settings.classification_retry_base_seconds
    wait = min(wait, settings.classification_retry_max_seconds)
    return classification_repository.record_hold(
        session,
        url=result.url,
        domain=domain,
        reason=result.error,
        retry_at=result.classified_at + timedelta(seconds=wait),
        key=key,
    )


def stored_outcome(
    row: UrlClassification | None, *, settings: Settings, now: datetime
) -> UrlOutcome | None:
    """The answer the store can give without fetching: fresh, a failure still backing off,
    or the failure of a URL given up less than ``classification_given_up_retry_seconds`` ago."""
    if row is None:
        return None
    ttl = timedelta(hours=settings.classification_ttl_hours)
    if classification_repository.is_fresh(
        row, now=now, ttl=ttl, engine_version=engine.ENGINE_VERSION
    ):
        return _outcome_from_row(row, cached=True)
    if row.error and row.next_attempt_at is not None and row.next_attempt_at > now:
        return failure_outcome(row, error=row.error, cached=True)
    # A URL given up is fetched again for an API request, but not for each of a client's
    # requests in a loop: the last failure answers until some time after it.
    recently = timedelta(seconds=settings.classification_given_up_retry_seconds)
    if (
        row.error
        and classification_repository.given_up(row)
        and row.last_failure_at is not None
        and now < row.last_failure_at + recently
    ):
        return failure_outcome(row, error=row.error, cached=True)
    return None


def failure_outcome(row: UrlClassification, *, error: str, cached: bool) -> UrlOutcome:
    """What a failed fetch of ``row``'s URL answers: the row's older classification when it
    has one (served from the store, the failure in ``refresh_error``: reports go on using it
    too), else the failure."""
    if row.status == OK and row.classification:
        stale = _outcome_from_row(row, cached=True)
        return replace(stale, refresh_error=error, retry_at=row.next_attempt_at)
    return UrlOutcome(
        url=_shown_url(row),
        classification=None,
        classified_at=None,
        engine_version=None,
        cached=cached,
        error=error,
        retry_at=row.next_attempt_at,
    )


def classify_url(
    *,
    db: Database,
    settings: Settings,
    url: str,
    role: Role | str = CREDENTIAL_ROLE,
    refresh: bool = False,
    stored_as: str | None = None,
) -> UrlOutcome:
    """Classify one URL: from the store when fresh, else fetch, classify and store.

    Failures are recorded on the store row (reason, attempts, next attempt) and returned in
    ``error``; while a URL is backing off, the recorded reason is returned without fetching.
    A URL that has an older classification answers it instead, the failure in
    ``refresh_error`` (``failure_outcome``).
    The store is read and written in two short transactions, so no database connection is
    held while the page is fetched (a slow site would otherwise pin one per request).
    ``refresh`` fetches again even when the store has a fresh result (re-classify).
    ``stored_as`` is the key the caller's row was stored under when it is an older one
    (``older_url_keys``): the result goes to that row, as the tick's does, not to the URL's key;
    without it, the row ``write_key`` names (an older row of the URL's, else its own key).
    """
    require(role, Action.classify)
    with db.transaction() as session:
        # The row's key is found from the URL as given: a dotted host's older row has a key
        # its normalised form (what is fetched and recorded) no longer leads to.
        key = (
            classification_repository.stored_key(stored_as)
            if stored_as is not None
            else classification_repository.write_key(session, url)
        )
        known = None
        if not refresh:
            known = stored_outcome(
                classification_repository.stored_row(session, url, key=key),
                settings=settings,
                now=utcnow(),
            )
    if known is not None:
        return known
    normalized, _ = classification_repository.url_key(url)
    result = classify_page(url=normalized, settings=settings, transaction=db.transaction)
    with db.transaction() as session:
        row = record_result(
            session, settings=settings, result=result, domain=domain_of(normalized), key=key
        )
        return recorded_outcome(row, result)


def recorded_outcome(row: UrlClassification, result: PageResult) -> UrlOutcome:
    """What a page just fetched answers, from the row ``record_result`` stored it in: its
    classification, or its failure (``failure_outcome``)."""
    if result.error is not None:
        return failure_outcome(row, error=result.error, cached=False)
    return _outcome_from_row(row, cached=False)


def _shown_url(row: UrlClassification) -> str:
    """``row``'s URL as answers give it: normalised as today, so a row stored before the host's
    root dot was dropped answers 'example.com/a' as every other spelling of the page does."""
    return url_key(row.url)[0] if older_url_keys(row.url) else row.url


def _outcome_from_row(row: UrlClassification, *, cached: bool) -> UrlOutcome:
    return UrlOutcome(
        url=_shown_url(row),
        classification=orjson.loads(row.classification) if row.classification else None,
        classified_at=row.classified_at,
        engine_version=row.engine_version,
        cached=cached,
        title=row.title or "",
        language=row.language,
    )


# --- The store as other domains use it (reports, inventory, the pixels' page URLs) -----------

Classification = classification_repository.Classification


def url_key(url: str) -> tuple[str, str]:
    """(normalised URL, its hash): the store's identity for a URL."""
    return classification_repository.url_key(url)


def lookup_hashes(url: str) -> list[str]:
    """The store hashes a read of ``url`` tries, its own first (see the repository's)."""
    return classification_repository.lookup_hashes(url)


def older_url_keys(url: str) -> list[tuple[str, str]]:
    """(normalised URL, hash) pairs ``url`` was keyed by under an older normalisation, which
    rows stored then (store and inventory) still carry."""
    return classification_repository.older_url_keys(url)


def root_dot_key(url: str) -> tuple[str, str] | None:
    """(normalised URL, hash) of ``url``'s root-dot spelling, an older key of the page's rows
    (None for an IP literal)."""
    return classification_repository.root_dot_key(url)


def write_keys(session: Session, urls: Iterable[str]) -> dict[str, tuple[str, str]]:
    """(normalised URL, hash) each URL's store row is written under: an older row's key when
    the URL was stored before under one (a host's root dot) and not since under its own."""
    return classification_repository.write_keys(session, urls)


def classifications_for_urls(session: Session, urls: Iterable[str]) -> dict[str, Classification]:
    """Stored classifications keyed by the URLs as given (only those successfully classified;
    a row under an older key of the URL answers when its own key has none)."""
    return classification_repository.classifications_for_urls(session, urls)


def classifications_for_domains(
    session: Session, domains: Iterable[str]
) -> dict[str, Classification]:
    """Each domain's classification: the aggregate of its classified URLs."""
    return classification_repository.classifications_for_domains(session, domains)


def request_classification(session: Session, urls: Iterable[tuple[str, str]]) -> int:
    """Queue ``(url, domain)`` pairs for background classification; returns how many are new."""
    return classification_repository.request_classification(session, urls)


def save_classification(
    session: Session,
    *,
    url: str,
    domain: str,
    classification: Classification,
    engine_version: str,
    classified_at: datetime,
) -> UrlClassification:
    """Store a classification obtained elsewhere (the demo's and a seed's pages)."""
    return classification_repository.save_classification(
        session,
        url=url,
        domain=domain,
        classification=classification,
        engine_version=engine_version,
        classified_at=classified_at,
    )


FeedReader = Callable[[int, int], Sequence[tuple[int, str, str]]]


def queue_feed(session: Session, *, feed: str, read: FeedReader, limit: int) -> int:
    """Queue the URLs a feed added since it was last read: ``read(after, limit)`` gives up to
    ``limit`` (position, url, domain) rows past ``after`` in position order. The feed's cursor
    is locked, so concurrent workers do not read the same rows; returns how many URLs are new."""
    cursor = repository.locked_cursor(session, feed)
    rows = read(cursor.position, limit)
    if not rows:
        return 0
    cursor.position = rows[-1][0]
    return classification_repository.request_classification(
        session, [(url, domain) for _, url, domain in rows]
    )
