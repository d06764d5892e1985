"""One key per page whose path a browser escapes: rows stored under a raw path
('https://example.com/ü', copied from an address bar; '/a"b') or a lower-case escape
('/%c3%bc') are re-keyed to the path as a browser sends it ('/%C3%BC', '/a%22b':
``core.urls.canonical_path``), the key ``normalize_url`` gives every spelling of the page from
this revision on.

Before, the two spellings were two keys: two store rows (the page fetched and classified
twice), two inventory rows of an account, two members of a segment. Every table keyed by the
store key (the normalised URL and its SHA-1) is re-keyed; a row whose new key is already
taken is merged into that one:

- ``url_classifications`` (shared by accounts; the classifier's queue is its pending rows):
  the row with the newest classification is kept (a classified row before a pending or failed
  one, then the latest ``classified_at``, then the latest id), under the new key, with the
  earliest ``created_at``; the others are deleted.
- ``activation_inventory``: as 0206 merges an account's rows of a page: the oldest row
  (earliest ``created_date``, then lowest id) is kept under the new key, ``upload`` when any
  was uploaded, the earliest ``created_date``; the newer are deleted.
- ``activation_segment_urls``: a member under an old key becomes the new key's member (the
  first by id when several spellings are members), or is deleted when the segment has that
  member already; such a segment has ``url_count``, ``domain_count`` and ``top_domains``
  counted again from its members (0206's recount).

Several rows of one page (a raw '/ü', a '/%c3%bc', a '/%C3%bc', and a row under the new key)
merge by the same rules as a pair (the kept row does not depend on the order they are read in).

A host's root dot is kept as it is ('https://example.com./ü' becomes
'https://example.com./%C3%BC', the older key readers still try); 0206's merge then runs again,
since such a dotted inventory row may now be the same page as a plain row of the account.

Nothing else holds the key: ``contextual_site_holds`` is keyed by origin (no path), batch items
keep the URL as the client sent it (normalised when read), and the pixel tables keep page URLs
as ``normalize_page_url`` gives them (their own keys, not the store's; a browser sends the
escaped path).

Candidates are found in SQL (a character a browser escapes in a path, or a lower-case escape)
and checked in Python, in batches by id. A batch costs the same few statements whatever its
size (a store may hold millions of WordPress slugs' '/%e6%97%a5', which browsers keep in
``location.href``): the rows already under the batch's new keys in one IN query, the rows
merged away in one DELETE, the kept rows of merged pages and the plainly re-keyed ones in an
executemany each. A stored text that is no URL ``normalize_url`` reads (an invalid port or
IPv6 literal, kept as given) keeps its key, as it is looked up.

The key rule (``canonical_path``, and ``normalize_url`` for 0206's merge, whose own copy calls
the application's) is a frozen copy of ``core.urls`` as of this revision: the application's
may change later, a migration's effect must not.

Stop the contextual workers, and servers still running older code, during the upgrade: a
worker that claimed a row before it was re-keyed writes its result back under the row's old
key (an upsert by the claimed ``url``/``url_hash``), a second row of the page that nothing
re-keys (fetched and classified again on every refresh; domain aggregates count it once,
``classification_repository._one_per_page``), and an older server keys '/ü' or '/%c3%bc' as
before.

Revision ID: 0209_unicode_path_keys
Revises: 0208_console_form_nonces
Create Date: 2026-12-07
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx
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

# 0206's merge and recount are SQL alone (its own ``_plain_keys`` calls the application's
# normalize_url: this revision compares with its frozen copy below instead).
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

Key = tuple[str, str]
Row = sa.Row[Any]
# A group of rows that are one page under one key (an owner's: the store's have none): the
# row kept and the values it gets besides the key; the others are deleted.
Merge = Callable[[list[Row], Row | None], tuple[Row, dict[str, Any]]]


def upgrade() -> None:
    rekey_unicode_paths(op.get_bind())


def downgrade() -> None:
    """Nothing to undo: a merged row cannot be split again. Code at 0208 keys a page by its
    path as given, so a re-keyed row answers its upper-case spelling only ('/%C3%BC'): a page
    asked for as a raw path ('/ü', '/a"b') or with a pixel's lower-case escapes ('/%c3%bc',
    which 0208 keeps in lower case) is queued, fetched and classified again under that key,
    and the inventory lists it again, as before this revision."""


def rekey_unicode_paths(conn: sa.Connection, *, batch: int = BATCH) -> dict[str, int]:
    """Re-key (and merge) the store, inventory and segment rows of raw paths (module
    docstring); returns how many rows of each table were re-keyed or merged."""
    shrunk: set[int] = set()
    counts = {
        "store": _rekey_table(conn, _store, None, _merge_store, batch),
        "inventory": _rekey_table(conn, _inventory, "account_id", _merge_inventory, batch),
        "members": _rekey_table(
            conn, _members, "segment_id", lambda rows, taken: _merge_members(rows, taken, shrunk),
            batch,
        ),
    }  # fmt: skip
    for segment_id in sorted(shrunk):
        _root_dot._recount(conn, segment_id)
    counts["root_dot"] = _merge_root_dot(conn, batch)
    return counts


def _rekey_table(
    conn: sa.Connection, table: Any, owner: str | None, merge: Merge, batch: int
) -> int:
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
        moves = [(row, key) for row in rows if (key := new_key(row.url)) is not None]
        if moves:
            _rekey_batch(conn, table, owner, merge, moves)
        done += len(moves)


def _rekey_batch(
    conn: sa.Connection, table: Any, owner: str | None, merge: Merge, moves: list[tuple[Row, Key]]
) -> None:
    """A batch's rows under their new keys, in five statements whatever its size: the rows
    already under those keys (one IN query), the rows merged away (one DELETE), the kept rows
    of merged pages and the others (an executemany each)."""

    def scope(row: Row) -> Any:
        return None if owner is None else getattr(row, owner)

    found = sa.select(table).where(table.c.url_hash.in_(sorted({key[1] for _, key in moves})))
    if owner is not None:
        found = found.where(table.c[owner].in_(sorted({scope(row) for row, _ in moves})))
    taken = {(scope(row), row.url_hash): row for row in conn.execute(found)}
    pages: dict[tuple[Any, Key], list[Row]] = {}
    for row, key in moves:
        pages.setdefault((scope(row), key), []).append(row)
    moved: list[dict[str, Any]] = []
    merged: list[dict[str, Any]] = []
    gone: list[int] = []
    for (owner_id, key), rows in pages.items():
        other = taken.get((owner_id, key[1]))
        if other is None and len(rows) == 1:
            moved.append({"row_id": rows[0].id, "new_url": key[0], "new_hash": key[1]})
            continue
        kept, values = merge(rows, other)
        gone += [row.id for row in [*rows, *([other] if other else [])] if row.id != kept.id]
        merged.append({"row_id": kept.id, "new_url": key[0], "new_hash": key[1], **values})
    if gone:
        conn.execute(sa.delete(table).where(table.c.id.in_(gone)))
    _update_many(conn, table, merged)
    _update_many(conn, table, moved)


def _update_many(conn: sa.Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    merged: dict[str, Any] = {
        name.removeprefix("merged_"): sa.bindparam(name)
        for name in rows[0]
        if name.startswith("merged_")
    }
    conn.execute(
        sa.update(table)
        .where(table.c.id == sa.bindparam("row_id"))
        .values(url=sa.bindparam("new_url"), url_hash=sa.bindparam("new_hash"), **merged),
        rows,
    )


def _merge_store(rows: list[Row], taken: Row | None) -> tuple[Row, dict[str, Any]]:
    """The row with the newest classification, with the earliest ``created_at``."""
    group = [*rows, *([taken] if taken else [])]
    kept = max(group, key=_newest)
    return kept, {"merged_created_at": min(row.created_at for row in group)}


def _newest(row: Row) -> tuple[bool, float, int]:
    """How new a store row's classification is: a classified row before a pending or failed
    one, then the latest classification, then the latest row."""
    classified = row.classified_at.timestamp() if row.classified_at else 0.0
    return (row.status == OK, classified, row.id)


def _merge_inventory(rows: list[Row], taken: Row | None) -> tuple[Row, dict[str, Any]]:
    """As 0206 merges: the older row, ``upload`` when any was uploaded, the first date."""
    group = [*rows, *([taken] if taken else [])]
    kept = min(group, key=lambda row: (row.created_date, row.id))
    uploaded = any(row.source == UPLOAD for row in group)
    return kept, {
        "merged_source": UPLOAD if uploaded else kept.source,
        "merged_created_date": min(row.created_date for row in group),
    }


def _merge_members(
    rows: list[Row], taken: Row | None, shrunk: set[int]
) -> tuple[Row, dict[str, Any]]:
    """The segment's member under the new key, else its first under an old key; its segment
    is recounted."""
    shrunk.add(rows[0].segment_id)
    return taken or min(rows, key=lambda row: row.id), {}


def _maybe_raw(conn: sa.Connection, url: Any) -> Any:
    """A URL holding a character a browser escapes in a path (outside printable ASCII, or
    '"<>`{}') or a lower-case escape: a superset of the keys that change (the query and host
    are checked again in Python)."""
    if conn.dialect.name == "postgresql":
        return url.op("~")('[^!-~]|["<>`{}]|%([0-9A-Fa-f][a-f]|[a-f][0-9A-Fa-f])')
    return sa.or_(
        sa.func.instr(url, sa.func.char(0)) > 0,  # GLOB stops reading at a NUL
        url.op("GLOB")("*[^!-~]*"),
        url.op("GLOB")('*["<>`{}]*'),
        url.op("GLOB")("*%[0-9A-Fa-f][a-f]*"),
        url.op("GLOB")("*%[a-f][0-9A-Fa-f]*"),
    )


def new_key(stored: str) -> Key | None:
    """(url, hash) a stored key has from this revision on: its path escaped as a browser sends
    it, the rest as it is; None when it keeps its key."""
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
    return _keyed(urlunsplit(parts._replace(path=path)))


def _keyed(url: str) -> Key:
    return url, hashlib.sha1(url.encode(), usedforsecurity=False).hexdigest()


# The key rule as of this revision, frozen (``core.urls`` may change after it): a path as a
# browser sends it, and the whole key ``normalize_url`` gives (what 0206's merge compares a
# dotted key with).
_PATH_TO_ESCAPE = re.compile(r'(?:[^\x21-\x7e]|["<>`{}])+|%[0-9a-fA-F]{2}')
_TRACKING_PARAMS = frozenset(
    {
        "gclid", "gbraid", "wbraid", "dclid", "fbclid", "msclkid", "yclid", "twclid", "igshid",
        "mc_cid", "mc_eid", "_ga", "_gl", "li_fat_id", "ref_src", "s_cid", "mkt_tok",
    }
)  # fmt: skip
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_path(path: str) -> str:
    """Every character but printable ASCII, and '"<>`{}', escaped as UTF-8; every ``%xx``
    escape in upper case, never decoded."""
    return _PATH_TO_ESCAPE.sub(_escaped, path)


def _escaped(found: re.Match[str]) -> str:
    text = found[0]
    return text.upper() if text.startswith("%") else quote(text, safe="")


def normalize_url(url: str) -> str:
    """The store key of ``url`` (lower-case scheme and host, the host in IDNA without its root
    dot, no default port, fragment or tracking parameter, the query sorted and re-encoded byte
    for byte, the path as ``canonical_path`` gives it); ValueError when it is no URL."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = _ascii_host((parts.hostname or "").lower())
    if host.endswith(".") and not host.endswith("..") and len(host) > 1:
        host = host[:-1]
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        host = f"{host}:{port}"
    raw_query = parts.query.encode("utf-8").decode("latin-1")
    query = sorted(
        (key, value)
        for key, value in parse_qsl(raw_query, keep_blank_values=True, encoding="latin-1")
        if not (key.lower().startswith("utm_") or key.lower() in _TRACKING_PARAMS)
    )
    encoded = urlencode(query, encoding="latin-1")
    return urlunsplit((scheme, host, canonical_path(parts.path or "/"), encoded, ""))


def _ascii_host(host: str) -> str:
    if host.isascii():
        return host
    try:
        return httpx.URL(f"http://{host}/").raw_host.decode("ascii")
    except (httpx.InvalidURL, ValueError):
        return host


def _merge_root_dot(conn: sa.Connection, batch: int) -> int:
    """0206's merge of an account's dotted and plain rows of a page, run again (a dotted row
    re-keyed here may now be a plain row's page), with this revision's key rule; returns how
    many rows were deleted."""
    merged = 0
    after = 0
    shrunk: set[int] = set()
    while True:
        rows = conn.execute(
            sa.select(_inventory)
            .where(
                _inventory.c.id > after,
                _inventory.c.url.like("%://%./%") | _inventory.c.url.like("%://%.:%"),
            )
            .order_by(_inventory.c.id)
            .limit(batch)
        ).all()
        if not rows:
            for segment_id in sorted(shrunk):
                _root_dot._recount(conn, segment_id)
            return merged
        after = rows[-1].id
        dotted = [row for row in rows if _root_dot._dotted_host(row.url)]
        merged += _merge_root_dot_batch(conn, dotted, shrunk)


def _merge_root_dot_batch(conn: sa.Connection, dotted: Sequence[Row], shrunk: set[int]) -> int:
    """0206's ``_merge_batch``, the plain keys by this revision's rule."""
    plain_keys = {row.id: _plain_keys(row.url) for row in dotted}
    wanted = sorted({h for keys in plain_keys.values() for _, h in keys})
    accounts = sorted({row.account_id for row in dotted})
    plain_rows: dict[tuple[int, str], Row] = {}
    if wanted:
        for row in conn.execute(
            sa.select(_inventory).where(
                _inventory.c.account_id.in_(accounts), _inventory.c.url_hash.in_(wanted)
            )
        ):
            plain_rows[(row.account_id, row.url_hash)] = row
    deleted = 0
    for row in dotted:
        for plain_key in plain_keys[row.id]:
            other = plain_rows.pop((row.account_id, plain_key[1]), None)
            if other is not None and other.id != row.id:
                _root_dot._merge_pair(conn, row, other, plain_key, shrunk)
                deleted += 1
                break
    return deleted


def _plain_keys(url: str) -> list[Key]:
    """0206's ``_plain_keys``: the stored dotted URL with its host's dot dropped, and (when it
    differs) that URL's key by this revision's ``normalize_url``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    host_end = len(netloc) if netloc.endswith(".") else netloc.rfind(":")
    plain = urlunsplit(
        (parts.scheme, netloc[: host_end - 1] + netloc[host_end:], parts.path, parts.query, "")
    )
    spellings = [plain]
    try:
        current = normalize_url(url)
    except ValueError:
        current = plain
    if current != plain:
        spellings.append(current)
    return [_keyed(spelling) for spelling in spellings]
