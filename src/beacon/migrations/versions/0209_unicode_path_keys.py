"""One key per page whose path a browser escapes: rows stored under a raw path
('https://example.com/ü', copied from an address bar) or a lower-case escape ('/%c3%bc') are
re-keyed to the path as a browser sends it ('/%C3%BC', ``core.urls.canonical_path``), the key
``normalize_url`` gives every spelling of the page from this revision on.

Before, the two spellings were two keys: two store rows (the page fetched and classified
twice), two inventory rows of an account, two members of a segment. Every table keyed by the
store key (the normalised URL and its SHA-1) is re-keyed; a row whose new key is already
taken is merged into that one:

- ``url_classifications`` (shared by accounts; the classifier's queue is its pending rows):
  the row with the newest classification is kept (a classified row before a pending or failed
  one, then the latest ``classified_at``, then the latest id), under the new key, with the
  earlier ``created_at``; the other is deleted.
- ``activation_inventory``: as 0206 merges an account's two rows of a page: the older row
  (earliest ``created_date``, then lowest id) is kept under the new key, ``upload`` when either
  was uploaded, the earlier ``created_date``; the newer is deleted.
- ``activation_segment_urls``: a member under the old key becomes the new key's member, or is
  deleted when the segment has that member already; such a segment has ``url_count``,
  ``domain_count`` and ``top_domains`` counted again from its members (0206's recount).

A host's root dot is kept as it is ('https://example.com./ü' becomes
'https://example.com./%C3%BC', the older key readers still try); 0206's merge then runs again,
since such a dotted inventory row may now be the same page as a plain row of the account.

Nothing else holds the key: ``contextual_site_holds`` is keyed by origin (no path), batch items
keep the URL as the client sent it (normalised when read), and the pixel tables keep page URLs
as ``normalize_page_url`` gives them (their own keys, not the store's; a browser sends the
escaped path).

Candidates are found in SQL (a character outside printable ASCII, or a lower-case escape) and
checked in Python, in batches by id. A stored text that is no URL ``normalize_url`` reads (an
invalid port or IPv6 literal, kept as given) keeps its key, as it is looked up.

Revision ID: 0209_unicode_path_keys
Revises: 0208_console_form_nonces
Create Date: 2026-12-07
"""

from __future__ import annotations

import hashlib
import importlib
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from alembic import op

from beacon.core.db import UTCDateTime

revision = "0209_unicode_path_keys"
down_revision = "0208_console_form_nonces"
branch_labels = None
# The inventory and segment tables come from the activation branch.
depends_on = "0300_activation"

BATCH = 500
UPLOAD = "upload"
OK = "ok"

_root_dot = importlib.import_module("beacon.migrations.versions.0206_activation_root_dot")

_store = sa.table(
    "url_classifications",
    sa.column("id", sa.Integer()),
    sa.column("url_hash", sa.String()),
    sa.column("url", sa.Text()),
    sa.column("status", sa.String()),
    sa.column("classified_at", UTCDateTime()),
    sa.column("created_at", UTCDateTime()),
)
_inventory = _root_dot._inventory
_members = sa.table(
    "activation_segment_urls",
    sa.column("id", sa.Integer()),
    sa.column("segment_id", sa.Integer()),
    sa.column("url_hash", sa.String()),
    sa.column("url", sa.Text()),
)


def upgrade() -> None:
    rekey_unicode_paths(op.get_bind())


def downgrade() -> None:
    """Nothing to undo: a merged row cannot be split again, and code at 0208 reads a re-keyed
    row by its escaped spelling (what a pixel sends) as before."""


def rekey_unicode_paths(conn: sa.Connection, *, batch: int = BATCH) -> dict[str, int]:
    """Re-key (and merge) the store, inventory and segment rows of raw paths (module
    docstring); returns how many rows of each table were re-keyed or merged away."""
    shrunk: set[int] = set()
    counts = {
        "store": _each_candidate(conn, _store, _rekey_store, batch),
        "inventory": _each_candidate(conn, _inventory, _rekey_inventory, batch),
        "members": _each_candidate(
            conn, _members, lambda c, row, key: _rekey_member(c, row, key, shrunk), batch
        ),
    }
    for segment_id in sorted(shrunk):
        _root_dot._recount(conn, segment_id)
    counts["root_dot"] = _root_dot.merge_root_dot_inventory(conn, batch=batch)
    return counts


def _each_candidate(conn: sa.Connection, table: Any, rekey: Any, batch: int) -> int:
    done = 0
    after = 0
    while True:
        rows = conn.execute(
            sa.select(table)
            .where(table.c.id > after, _maybe_raw(conn, table.c.url))
            .order_by(table.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return done
        after = rows[-1].id
        for row in rows:
            key = new_key(row.url)
            if key is not None:
                rekey(conn, row, key)
                done += 1


def _maybe_raw(conn: sa.Connection, url: Any) -> Any:
    """A URL holding a character outside printable ASCII or a lower-case escape (a superset of
    the keys that change: the query and host are checked again in Python)."""
    if conn.dialect.name == "postgresql":
        return url.op("~")("[^!-~]|%([0-9A-Fa-f][a-f]|[a-f][0-9A-Fa-f])")
    return sa.or_(
        url.op("GLOB")("*[^!-~]*"),
        url.op("GLOB")("*%[0-9A-Fa-f][a-f]*"),
        url.op("GLOB")("*%[a-f][0-9A-Fa-f]*"),
    )


def new_key(stored: str) -> tuple[str, str] | None:
    """(url, hash) a stored key has from this revision on: its path escaped as a browser sends
    it, the rest as it is; None when it keeps its key."""
    from beacon.core.urls import canonical_path

    try:
        parts = urlsplit(stored)
        _ = parts.port  # an invalid port: a text url_key keeps as given
        if urlunsplit(parts) != stored:
            return None  # not a key normalize_url wrote
        path = canonical_path(parts.path)
    except ValueError:
        return None
    if path == parts.path:
        return None
    url = urlunsplit(parts._replace(path=path))
    return url, hashlib.sha1(url.encode(), usedforsecurity=False).hexdigest()


def _rekey_store(conn: sa.Connection, row: sa.Row[Any], key: tuple[str, str]) -> None:
    other = conn.execute(sa.select(_store).where(_store.c.url_hash == key[1])).first()
    if other is None:
        conn.execute(
            sa.update(_store).where(_store.c.id == row.id).values(url=key[0], url_hash=key[1])
        )
        return
    kept = max((row, other), key=_newest)
    gone = other if kept is row else row
    conn.execute(sa.delete(_store).where(_store.c.id == gone.id))
    conn.execute(
        sa.update(_store)
        .where(_store.c.id == kept.id)
        .values(url=key[0], url_hash=key[1], created_at=min(kept.created_at, gone.created_at))
    )


def _newest(row: sa.Row[Any]) -> tuple[bool, float, int]:
    """How new a store row's classification is: a classified row before a pending or failed
    one, then the latest classification, then the latest row."""
    classified = row.classified_at.timestamp() if row.classified_at else 0.0
    return (row.status == OK, classified, row.id)


def _rekey_inventory(conn: sa.Connection, row: sa.Row[Any], key: tuple[str, str]) -> None:
    other = conn.execute(
        sa.select(_inventory).where(
            _inventory.c.account_id == row.account_id, _inventory.c.url_hash == key[1]
        )
    ).first()
    if other is None:
        conn.execute(
            sa.update(_inventory)
            .where(_inventory.c.id == row.id)
            .values(url=key[0], url_hash=key[1])
        )
        return
    kept, gone = sorted((row, other), key=lambda r: (r.created_date, r.id))
    conn.execute(sa.delete(_inventory).where(_inventory.c.id == gone.id))
    conn.execute(
        sa.update(_inventory)
        .where(_inventory.c.id == kept.id)
        .values(
            url=key[0],
            url_hash=key[1],
            source=UPLOAD if UPLOAD in (kept.source, gone.source) else kept.source,
            created_date=min(kept.created_date, gone.created_date),
        )
    )


def _rekey_member(
    conn: sa.Connection, row: sa.Row[Any], key: tuple[str, str], shrunk: set[int]
) -> None:
    taken = conn.execute(
        sa.select(_members.c.id).where(
            _members.c.segment_id == row.segment_id, _members.c.url_hash == key[1]
        )
    ).first()
    if taken is None:
        conn.execute(
            sa.update(_members).where(_members.c.id == row.id).values(url=key[0], url_hash=key[1])
        )
        return
    conn.execute(sa.delete(_members).where(_members.c.id == row.id))
    shrunk.add(row.segment_id)
