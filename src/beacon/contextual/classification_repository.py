"""Read and write stored classifications, by URL and aggregated by domain.

Domain rule (documented in docs/understand.md): a domain's classification is the aggregate of
its successfully classified URLs — each IAB category's confidence is its mean over those URLs
(a URL without the category counts 0), top 3 kept; keywords and entities ranked by how many
URLs carry them (ties by first seen), top 10; entity confidence is its mean where present;
sentiment score is the mean score, labelled with the engine's thresholds.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import and_, case, func, literal, null, or_, select, update
from sqlalchemy.orm import Session

from beacon.contextual.fetch import normalize_url
from beacon.contextual.models import ERROR, OK, PENDING, UrlClassification
from beacon.contextual.sentiment import NEGATIVE_THRESHOLD, POSITIVE_THRESHOLD
from beacon.core import urls as core_urls
from beacon.core.db import UTCDateTime, rowcount, slices, upsert_insert
from beacon.core.timefmt import utcnow

Classification = dict[str, Any]


def url_key(url: str) -> tuple[str, str]:
    """(normalised URL, its hash) — the store's identity for a URL; invalid URLs keep their text."""
    try:
        normalized = normalize_url(url)
    except ValueError:
        normalized = url.strip()
    return _keyed(normalized)


def older_url_keys(url: str) -> list[tuple[str, str]]:
    """The keys ``url`` had under an older normalisation (``core.urls.older_url_keys``): rows
    stored then keep them (nothing re-keys them), so lookups by URL try them after its key."""
    return [_keyed(older) for older in core_urls.older_url_keys(url.strip())]


def lookup_hashes(url: str) -> list[str]:
    """The hashes a read of ``url`` tries, its own key's first, then its older keys': the row
    under the first one present answers (a row stored before a key change keeps its key)."""
    return [url_key(url)[1], *(older for _, older in older_url_keys(url))]


def write_keys(session: Session, urls: Iterable[str]) -> dict[str, tuple[str, str]]:
    """The key each URL's row is written under: the URL's own, or the older key
    (``older_url_keys``) of a row stored before when the store has a row under that key and
    none under its own. One URL is one row: an insert under the URL's key added a second.

    Only a URL with an older key (a host with its root dot) costs a query."""
    keys = {url: url_key(url) for url in urls}
    older = {url: found for url in keys if (found := older_url_keys(url))}
    hashes = sorted({h for url, olds in older.items() for _, h in [keys[url], *olds]})
    present: set[str] = set()
    for part in slices(hashes, 500):
        present.update(
            session.scalars(
                select(UrlClassification.url_hash).where(UrlClassification.url_hash.in_(part))
            )
        )
    for url, olds in older.items():
        if keys[url][1] not in present:
            keys[url] = next((key for key in olds if key[1] in present), keys[url])
    return keys


def write_key(session: Session, url: str) -> tuple[str, str]:
    """The key ``url``'s row is written under (``write_keys``)."""
    return write_keys(session, [url])[url]


def root_dot_key(url: str) -> tuple[str, str] | None:
    """(url, hash) of ``url``'s root-dot spelling ('example.com./a' for 'example.com/a'),
    whatever dot ``url`` was given with: the key rows of the page stored before the dot was
    dropped carry. None where the host cannot carry one (an IP literal)."""
    dotted = core_urls.root_dot_form(url_key(url)[0])
    return None if dotted is None else _keyed(dotted)


def stored_key(normalized: str) -> tuple[str, str]:
    """(url, hash) of a row stored under ``normalized`` as it is (an older key included)."""
    return _keyed(normalized)


def _keyed(normalized: str) -> tuple[str, str]:
    return normalized, hashlib.sha1(normalized.encode(), usedforsecurity=False).hexdigest()


def classifications_for_urls(session: Session, urls: Iterable[str]) -> dict[str, Classification]:
    """Stored classifications keyed by the URLs as given (only those successfully classified);
    a URL's row under an older key (``older_url_keys``) answers when its own key has none."""
    by_hash: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for url in set(urls):
        if url:
            for rank, url_hash in enumerate(lookup_hashes(url)):
                by_hash[url_hash].append((url, rank == 0))
    found: dict[str, Classification] = {}
    hashes = list(by_hash)
    for start in range(0, len(hashes), 500):
        rows = session.execute(
            select(UrlClassification.url_hash, UrlClassification.classification).where(
                UrlClassification.url_hash.in_(hashes[start : start + 500]),
                UrlClassification.status == OK,
            )
        )
        for url_hash, payload in rows:
            if payload:
                for url, own_key in by_hash[url_hash]:
                    if own_key or url not in found:
                        found[url] = orjson.loads(payload)
    return found


def classifications_for_domains(
    session: Session, domains: Iterable[str]
) -> dict[str, Classification]:
    """Each domain's aggregate over its classified URLs (see the module docstring)."""
    wanted = sorted({d for d in domains if d})
    grouped: dict[str, dict[str, Classification]] = defaultdict(dict)
    for start in range(0, len(wanted), 500):
        rows = session.execute(
            select(
                UrlClassification.domain, UrlClassification.url, UrlClassification.classification
            )
            .where(
                UrlClassification.domain.in_(wanted[start : start + 500]),
                UrlClassification.status == OK,
            )
            .order_by(UrlClassification.id)
        )
        for domain, url, payload in rows:
            if payload:
                grouped[domain][url] = orjson.loads(payload)
    return {domain: aggregate(_one_per_page(pages)) for domain, pages in grouped.items()}


def _one_per_page(pages: dict[str, Classification]) -> list[Classification]:
    """The classifications of a domain's rows by URL, one per page: rows of one page under
    its own key and older keys count once, by the row under its own key when there is one.
    Older keys: a root-dot key written before writes found the dotted row, or a path's
    pre-0209 key ('/ü', '/%c3%bc') a worker running through that migration wrote its result
    back under. A page's rows under older keys alone count once, by the first."""
    by_page: dict[str, Classification] = {}
    for url, page in pages.items():
        own = _own_key(url)
        if url == own or own not in by_page:
            by_page[own] = page
    return list(by_page.values())


def _own_key(url: str) -> str:
    """``url_key``'s key without its hash (a domain's aggregate keys every one of its pages)."""
    try:
        return normalize_url(url)
    except ValueError:
        return url.strip()


def aggregate(items: list[Classification]) -> Classification:
    """Combine several pages' classifications into one (the domain rule)."""
    count = len(items)
    confidence: dict[str, float] = defaultdict(float)
    names: dict[str, Mapping[str, Any]] = {}
    keywords: Counter[str] = Counter()
    entity_hits: Counter[tuple[str, str]] = Counter()
    entity_conf: dict[tuple[str, str], float] = defaultdict(float)
    score = 0.0
    for item in items:
        for category in item.get("iab_categories", []):
            confidence[category["id"]] += float(category["confidence"])
            names.setdefault(category["id"], category)
        keywords.update(dict.fromkeys(item.get("keywords", []), 1))
        for entity in item.get("entities", []):
            key = (entity["name"], entity["type"])
            entity_hits[key] += 1
            entity_conf[key] += float(entity["confidence"])
        score += float(item.get("sentiment", {}).get("score", 0.5))
    top = sorted(confidence.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    mean_score = score / count if count else 0.5
    compound = mean_score * 2 - 1
    label = (
        "positive"
        if compound >= POSITIVE_THRESHOLD
        else "negative"
        if compound <= NEGATIVE_THRESHOLD
        else "neutral"
    )
    return {
        "iab_categories": [
            {**names[cid], "confidence": round(total / count, 3)} for cid, total in top
        ],
        "keywords": [k for k, _ in keywords.most_common(10)],
        "entities": [
            {"name": n, "type": t, "confidence": round(entity_conf[(n, t)] / hits, 3)}
            for (n, t), hits in entity_hits.most_common(10)
        ],
        "sentiment": {"label": label, "score": round(mean_score, 3)},
    }


def save_classification(
    session: Session,
    *,
    url: str,
    domain: str,
    classification: Classification,
    engine_version: str,
    classified_at: datetime,
    title: str | None = None,
    language: str | None = None,
    key: tuple[str, str] | None = None,
) -> UrlClassification:
    """Insert or replace the stored classification of ``url`` (one atomic upsert), with the
    page's extracted ``title`` and ``language`` when known; ``key`` is the row's own (url,
    hash) when the caller holds it (see ``claim_due``), else ``write_key``'s."""
    normalized, url_hash = key or write_key(session, url)
    values: dict[str, Any] = {
        "domain": domain[:255],
        "status": OK,
        "classification": orjson.dumps(classification).decode(),
        "title": title or None,
        "language": (language or None) and str(language)[:16],
        "engine_version": engine_version,
        "classified_at": classified_at,
        "error": None,
        "attempts": 0,  # counts consecutive failed fetches, so a success resets it
        "failing_since": None,
        "next_attempt_at": None,
    }
    statement = upsert_insert(session, UrlClassification).values(
        url_hash=url_hash, url=normalized, **values
    )
    session.execute(statement.on_conflict_do_update(index_elements=["url_hash"], set_=values))
    return _reload(session, url_hash)


def request_classification(session: Session, urls: Iterable[tuple[str, str]]) -> int:
    """Queue ``(url, domain)`` pairs for background classification; returns how many are new.

    Only URLs the store does not know yet get a ``pending`` row (INSERT .. ON CONFLICT DO
    NOTHING, so concurrent requests for the same URL cannot collide); the contextual worker
    picks pending rows up (and re-queues stale ones by their own schedule). A URL whose row
    is stored under an older key has it (``write_keys``): no second row is queued beside it.
    """
    pairs = [(url, domain) for url, domain in urls if url]
    keys = write_keys(session, [url for url, _ in pairs])
    keyed: dict[str, dict[str, Any]] = {}
    for url, domain in pairs:
        normalized, url_hash = keys[url]
        keyed.setdefault(
            url_hash,
            {
                "url_hash": url_hash,
                "url": normalized,
                "domain": domain[:255],
                "status": PENDING,
                "attempts": 0,
                "created_at": utcnow(),
            },
        )
    # Sorted, so that concurrent batches take the unique index's locks in the same order.
    rows = [keyed[url_hash] for url_hash in sorted(keyed)]
    new = 0
    for start in range(0, len(rows), 500):
        statement = upsert_insert(session, UrlClassification).values(rows[start : start + 500])
        new += rowcount(session, statement.on_conflict_do_nothing(index_elements=["url_hash"]))
    return new


def stored_row(
    session: Session, url: str, *, key: tuple[str, str] | None = None
) -> UrlClassification | None:
    """The store row of ``url`` (the one ``write_key`` names), or of ``key``, whatever its
    status."""
    url_hash = (key or write_key(session, url))[1]
    return session.scalar(select(UrlClassification).where(UrlClassification.url_hash == url_hash))


def is_fresh(row: UrlClassification, *, now: datetime, ttl: timedelta, engine_version: str) -> bool:
    """Whether a row holds a classification by this engine version, younger than ``ttl``."""
    return (
        row.status == OK
        and row.classification is not None
        and row.engine_version == engine_version
        and row.classified_at is not None
        and row.classified_at > now - ttl
    )


def record_failure(
    session: Session,
    *,
    url: str,
    domain: str,
    reason: str,
    retry_at: datetime | None,
    failing_since: datetime,
    failed_at: datetime,
    key: tuple[str, str] | None = None,
) -> UrlClassification:
    """Record a failed fetch of ``url`` at ``failed_at``: the reason, one more attempt, and
    when to retry; ``failing_since`` is kept where the row's run of failures already has a
    start.

    A row that already holds a classification keeps it (reports go on using the stale
    result); only a row without one turns to ``error``. One atomic upsert, like
    ``save_classification`` (``key`` as there).
    """
    normalized, url_hash = key or write_key(session, url)
    since = literal(failing_since, UTCDateTime())
    statement = upsert_insert(session, UrlClassification).values(
        url_hash=url_hash,
        url=normalized,
        domain=domain[:255],
        status=ERROR,
        error=reason,
        attempts=1,
        failing_since=failing_since,
        next_attempt_at=retry_at,
        last_failure_at=failed_at,
    )
    statement = statement.on_conflict_do_update(
        index_elements=["url_hash"],
        set_={
            "status": case((UrlClassification.status == OK, OK), else_=ERROR),
            "error": reason,
            "attempts": func.coalesce(UrlClassification.attempts, 0) + 1,
            "failing_since": case(
                (func.coalesce(UrlClassification.attempts, 0) == 0, since),
                else_=func.coalesce(UrlClassification.failing_since, since),
            ),
            "next_attempt_at": retry_at,
            "last_failure_at": failed_at,
        },
    )
    session.execute(statement)
    return _reload(session, url_hash)


def record_hold(
    session: Session,
    *,
    url: str,
    domain: str,
    reason: str,
    retry_at: datetime,
    key: tuple[str, str] | None = None,
) -> UrlClassification:
    """Record that ``url`` was not fetched because its site is held (another page's 429 or
    503): when to try, and nothing else. Not an attempt: ``attempts``, ``failing_since``,
    ``last_failure_at`` and the status stay. A URL never tried (not known yet, or
    ``pending``) stays a clean ``pending`` with no error: nothing failed, it waits for the
    site (the caller answers the hold's reason); a URL that failed before, or has an older
    result, carries the reason (its ``error``, or a refresh's). One atomic upsert, like
    ``record_failure``, that leaves a row given up in the meantime (by another process, after
    the caller read it) as it is."""
    normalized, url_hash = key or write_key(session, url)
    statement = upsert_insert(session, UrlClassification).values(
        url_hash=url_hash,
        url=normalized,
        domain=domain[:255],
        status=PENDING,
        error=None,
        attempts=0,
        next_attempt_at=retry_at,
    )
    statement = statement.on_conflict_do_update(
        index_elements=["url_hash"],
        set_={
            "error": case((UrlClassification.status == PENDING, null()), else_=reason),
            "next_attempt_at": retry_at,
        },
        where=~_GIVEN_UP,
    )
    session.execute(statement)
    return _reload(session, url_hash)


def given_up(row: UrlClassification) -> bool:
    """Whether the worker stopped retrying ``row``'s URL (failures with no next attempt);
    ``_GIVEN_UP`` says the same in SQL."""
    return row.status == ERROR and row.attempts > 0 and row.next_attempt_at is None


_GIVEN_UP = and_(
    UrlClassification.status == ERROR,
    UrlClassification.attempts > 0,
    UrlClassification.next_attempt_at.is_(None),
)


def _reload(session: Session, url_hash: str) -> UrlClassification:
    row = session.scalar(
        select(UrlClassification)
        .where(UrlClassification.url_hash == url_hash)
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


def claim_due(
    session: Session,
    *,
    now: datetime,
    ttl: timedelta,
    engine_version: str,
    limit: int,
    lease_until: datetime,
) -> list[UrlClassification]:
    """Claim up to ``limit`` rows that need (re)classification by pushing their next attempt
    to ``lease_until``; a worker that dies leaves them due again once the lease passes.

    A claimed row's result is recorded under the row's own key, not its URL's key now: a row
    keyed by an older normalisation (before the host's IDNA form, say) would otherwise stay
    pending, claimed and fetched again for good, while its result went to another row.

    Due: pending rows, failed rows whose back-off has passed, and classified rows that are
    older than ``ttl`` or from another engine version (and not backing off); claimed in that
    order, so refreshes never hold up a page not yet classified.
    """
    not_backing_off = or_(
        UrlClassification.next_attempt_at.is_(None), UrlClassification.next_attempt_at <= now
    )
    due = or_(
        and_(UrlClassification.status == PENDING, not_backing_off),
        and_(UrlClassification.status == ERROR, UrlClassification.next_attempt_at <= now),
        and_(
            UrlClassification.status == OK,
            not_backing_off,
            or_(
                UrlClassification.classified_at < now - ttl,
                UrlClassification.engine_version != engine_version,
            ),
        ),
    )
    ids = list(
        session.scalars(
            select(UrlClassification.id)
            .where(due)
            # URLs never classified first, then retries, then refreshes: by id alone, an
            # engine upgrade (or each TTL) put every stored row ahead of a new page.
            .order_by(
                UrlClassification.status != PENDING,
                UrlClassification.status == OK,
                UrlClassification.next_attempt_at.is_not(None),
                UrlClassification.id,
            )
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    claimed: list[UrlClassification] = []
    for row_id in ids:
        # Re-checking `due` makes the claim safe on SQLite, where there is no SKIP LOCKED.
        if rowcount(
            session,
            update(UrlClassification)
            .where(UrlClassification.id == row_id, due)
            .values(next_attempt_at=lease_until)
            .execution_options(synchronize_session=False),
        ):
            row = session.get(UrlClassification, row_id, populate_existing=True)
            if row is not None:
                claimed.append(row)
    return claimed
