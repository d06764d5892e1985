"""The account's inventory: uploaded URLs plus every URL its pixels have seen, each queued for
classification by the contextual engine."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

from beacon.activation.inventory import repository
from beacon.activation.schemas import (
    MAX_INVENTORY_URLS,
    InventoryAdded,
    InventoryItem,
    InventoryPage,
    InventoryUpload,
    Pagination,
)
from beacon.contextual.service import (
    older_url_keys,
    request_classification,
    root_dot_key,
    url_key,
    write_keys,
)
from beacon.core.csvtext import csv_errors_as_bad_request, csv_source
from beacon.core.errors import BadRequest, InvalidValue, NotFound, quoted
from beacon.core.permissions import CREDENTIAL_ROLE, Action, Role, require
from beacon.core.registrable_domains import registrable_domain
from beacon.core.timefmt import utcnow
from beacon.core.urls import MAX_URL_LENGTH, web_url_host
from beacon.pixel import service as pixel_service

UPLOAD, PIXEL = "upload", "pixel"
_PIXEL_SYNC_CHUNK = 5000


@dataclass(frozen=True)
class InventoryEntry:
    url: str
    url_hash: str
    domain: str
    # The URL's other keys (its own, an older normalisation's) the account's row may have.
    other_hashes: tuple[str, ...] = ()


def entry_for(url: str, *, allow_private: bool = False) -> InventoryEntry | None:
    """The normalised inventory entry of an http(s) URL with a public domain, else None.

    With ``allow_private`` (the fetcher may fetch private networks), a URL whose host has no
    registrable domain (127.0.0.1, an intranet name) is kept under its host name.
    """
    text = url.strip()
    host = web_url_host(text)  # an http(s) URL the fetcher can request, or None
    if host is None:
        return None
    domain = registrable_domain(text)
    if domain is None and allow_private:
        domain = host
    if domain is None:
        return None
    normalized, url_hash = url_key(text)
    return InventoryEntry(normalized, url_hash, domain)


def urls_from_text(body: bytes) -> list[tuple[int, str]]:
    """(line number, URL) from a text/plain or text/csv upload: the first column of each line.

    A first line that is not a URL (a CSV header such as ``url``) is skipped.
    """
    if body.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        # What Excel saves as "Unicode text": say so rather than "not UTF-8".
        raise BadRequest(
            "Upload is UTF-16 or UTF-32 text (it starts with a byte-order mark): "
            'save it as UTF-8 ("CSV UTF-8")'
        )
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("Upload is not UTF-8 text") from None
    found: list[tuple[int, str]] = []
    with csv_errors_as_bad_request():
        for number, row in enumerate(csv.reader(csv_source(text)), start=1):
            cell = row[0].strip() if row else ""
            if not cell or (number == 1 and "://" not in cell):
                continue
            found.append((number, cell))
    return found


def parse_json_upload(data: InventoryUpload) -> list[tuple[str, str]]:
    """(label naming the entry, URL) for a JSON upload."""
    return [(f"urls[{i}]", url) for i, url in enumerate(data.urls)]


def parse_text_upload(body: bytes) -> list[tuple[str, str]]:
    """(label naming the line, URL) for a text/plain or text/csv upload."""
    lines = urls_from_text(body)
    if not lines:
        raise BadRequest("Upload contains no URLs: send one URL per line")
    return [(f"line {number}", url) for number, url in lines]


def add_urls(
    *,
    session: Session,
    account_id: int,
    labelled_urls: list[tuple[str, str]],
    role: Role | str = CREDENTIAL_ROLE,
    allow_private: bool = False,
) -> InventoryAdded:
    """Add uploaded URLs to the account's inventory and queue the new ones for classification."""
    require(role, Action.classify)
    if len(labelled_urls) > MAX_INVENTORY_URLS:
        raise InvalidValue(
            "urls", f"at most {MAX_INVENTORY_URLS} URLs per request (got {len(labelled_urls)})"
        )
    # The classify API's bound, told as such (a longer URL was stored, then never fetched).
    too_long = [(label, url) for label, url in labelled_urls if len(url.strip()) > MAX_URL_LENGTH]
    if too_long:
        raise InvalidValue(
            "urls", f"must be at most {MAX_URL_LENGTH} characters long: {_shown(too_long)}"
        )
    found: list[tuple[str, InventoryEntry]] = []
    bad: list[tuple[str, str]] = []
    for label, url in labelled_urls:
        entry = entry_for(url, allow_private=allow_private)
        if entry is None:
            bad.append((label, url))
        else:
            found.append((url, entry))
    if bad:
        raise InvalidValue("urls", f"not an http(s) URL with a public domain: {_shown(bad)}")
    entries = _as_stored(session, found)
    added = _store(session, account_id=account_id, entries=entries, source=UPLOAD)
    queued = request_classification(session, [(e.url, e.domain) for e in entries])
    return InventoryAdded(received=len(labelled_urls), added=added, queued=queued)


def _shown(labelled_urls: list[tuple[str, str]]) -> str:
    """The first ten entries, each as its label and its URL (quoted, cut when long)."""
    shown = ", ".join(f"{label} ({quoted(url)})" for label, url in labelled_urls[:10])
    more = len(labelled_urls) - 10
    return shown + (f" and {more} more" if more > 0 else "")


def sync_pixel_urls(*, session: Session, account_id: int) -> int:
    """Copy URLs the account's pixels saw since the last sync into its inventory; returns how
    many were new. A watermark on the rollup id keeps each sync proportional to new traffic."""
    watermark = repository.sync_watermark(session, account_id=account_id)
    added = 0
    while True:
        rows = pixel_service.account_page_urls_after(
            session,
            account_id=account_id,
            after_id=watermark.last_rollup_id,
            limit=_PIXEL_SYNC_CHUNK,
        )
        if not rows:
            return added
        found: list[tuple[str, InventoryEntry]] = []
        for _, url, domain in rows:
            entry = entry_for(url) if url else None
            if entry is not None:
                found.append(
                    (url, InventoryEntry(entry.url, entry.url_hash, domain or entry.domain))
                )
        entries = _as_stored(session, found)
        added += _store(session, account_id=account_id, entries=entries, source=PIXEL)
        request_classification(session, [(e.url, e.domain) for e in entries])
        watermark.last_rollup_id = rows[-1][0]
        session.flush()


def list_inventory(*, session: Session, account_id: int, limit: int, offset: int) -> InventoryPage:
    """One page of the account's inventory with each URL's classification status."""
    sync_pixel_urls(session=session, account_id=account_id)
    rows, total = repository.inventory_page(
        session, account_id=account_id, limit=limit, offset=offset
    )
    items = [
        InventoryItem(
            url=inv.url,
            domain=inv.domain,
            source=UPLOAD if inv.source == UPLOAD else PIXEL,
            status="ok" if status == "ok" else "error" if status == "error" else "pending",
            created_date=inv.created_date,
            reason=(error or "classification failed") if status == "error" else None,
        )
        for inv, status, error in rows
    ]
    return InventoryPage(data=items, pagination=Pagination(limit=limit, offset=offset, total=total))


@dataclass(frozen=True)
class BrowsedUrl:
    """One inventory URL as the console lists it: status, failure reason and categories."""

    url: str
    url_hash: str
    domain: str
    source: str
    status: str
    error: str | None
    categories: list[dict[str, Any]]
    classified_at: datetime | None
    created_date: datetime


@dataclass(frozen=True)
class BrowsedPage:
    items: list[BrowsedUrl]
    total: int
    counts: dict[str, int]


def browse_inventory(
    *,
    session: Session,
    account_id: int,
    status: str | None = None,
    domain: str | None = None,
    category: str | None = None,
    limit: int,
    offset: int,
) -> BrowsedPage:
    """A filtered page of the inventory with each URL's status, failure reason and categories,
    and the whole inventory's counts per status (the upload's progress)."""
    sync_pixel_urls(session=session, account_id=account_id)
    rows, total = repository.inventory_browse(
        session,
        account_id=account_id,
        status=status,
        domain=domain,
        category=category,
        limit=limit,
        offset=offset,
    )
    items = []
    for inv, row in rows:
        stored = orjson.loads(row.classification) if row is not None and row.classification else {}
        items.append(
            BrowsedUrl(
                url=inv.url,
                url_hash=inv.url_hash,
                domain=inv.domain,
                source=inv.source,
                status=row.status if row is not None else "pending",
                error=row.error if row is not None else None,
                categories=stored.get("iab_categories", []),
                classified_at=row.classified_at if row is not None else None,
                created_date=inv.created_date,
            )
        )
    counts = repository.inventory_status_counts(session, account_id=account_id)
    return BrowsedPage(items=items, total=total, counts=counts)


def inventory_domains(*, session: Session, account_id: int, limit: int = 500) -> list[str]:
    """The account's inventory domains (the domain filter's choices)."""
    return repository.inventory_domains(session, account_id=account_id, limit=limit)


def get_inventory_url(*, session: Session, account_id: int, url: str) -> str:
    """The normalised URL when it is in the account's inventory (under its key, or a key of an
    older normalisation its row was stored with); otherwise a 404."""
    normalized, url_hash = url_key(url)
    dotted = root_dot_key(url)
    for key, key_hash in [(normalized, url_hash), *older_url_keys(url), *filter(None, [dotted])]:
        if repository.inventory_url(session, account_id=account_id, url_hash=key_hash) is not None:
            return key
    raise NotFound(f"{quoted(normalized)} is not in this account's inventory")


def _as_stored(session: Session, found: list[tuple[str, InventoryEntry]]) -> list[InventoryEntry]:
    """One entry per page, for (URL as given, its entry): the spellings of a page with and
    without its host's root dot are one page (one key, ``url_key``). It is keyed as the store
    writes it (its older row's key where a spelling resolves to one, ``write_keys``), so that the
    inventory row joins that row; its other keys, the root-dot one included, let an account's
    row under any of them count as the page's, so no second row is added beside it."""
    keys = write_keys(session, [url for url, _ in found])
    entries: dict[str, InventoryEntry] = {}
    for url, entry in found:
        written, written_hash = keys[url]
        current = entries.get(entry.url_hash)
        if current is not None and (
            current.url_hash != entry.url_hash or written_hash == entry.url_hash
        ):
            continue  # the page is in already (under its older key when any spelling had one)
        dotted = root_dot_key(url)
        others = {entry.url_hash, *(h for _, h in older_url_keys(url))}
        if dotted is not None:
            others.add(dotted[1])
        others.discard(written_hash)
        entries[entry.url_hash] = InventoryEntry(
            written, written_hash, entry.domain, tuple(sorted(others))
        )
    return list(entries.values())


def _store(session: Session, *, account_id: int, entries: list[InventoryEntry], source: str) -> int:
    # An account's row under another key of the URL (stored before the root dot was dropped)
    # is the URL's row: the listing would show the URL twice.
    known = repository.known_inventory_hashes(
        session,
        account_id=account_id,
        hashes=[h for e in entries for h in (e.url_hash, *e.other_hashes)],
    )
    now = utcnow()
    new = [
        {
            "account_id": account_id,
            "url_hash": e.url_hash,
            "url": e.url,
            "domain": e.domain[:255],
            "source": source,
            "created_date": now,
        }
        for e in entries
        if known.isdisjoint((e.url_hash, *e.other_hashes))
    ]
    return repository.add_inventory(session, new)
