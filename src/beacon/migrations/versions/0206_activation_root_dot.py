"""One inventory row per page: an account's rows of a page under its host's root dot
('https://example.com./a') and under its plain spelling ('https://example.com/a') become one.

The write paths group the two spellings now (731b7f5), but accounts that stored both before
keep listing the page twice, and a segment built over them counts it twice. For each such
pair of an account's rows, field by field:

- ``id``: the older row's (earliest ``created_date``, then lowest id) is kept; the newer row
  is deleted.
- ``url_hash`` / ``url``: the key the page's store row is written under, as
  ``classification_repository.write_keys`` names it for the dotted spelling: the plain key
  when the store has a row under it, else the dotted key when the store has one under that,
  else the plain key. Reads and writes by either spelling use the plain row once it exists
  (plain spellings never look at the dotted key), so the kept row joins the row that is kept
  up to date; keeping the older row's dotted key could show a given-up dotted row's error
  for a page whose plain row is classified, and leave it out of every segment.
- ``source``: ``upload`` when either row was uploaded (the account sent the page itself),
  else ``pixel``.
- ``created_date``: the earlier of the two (when the account first had the page).
- ``domain``: the kept row's, unless it ends with a root dot and the other's does not.
- ``account_id``: the same for both.

Segment members (``activation_segment_urls``, keyed by the inventory row's ``url_hash``) of
the account's segments follow: a member under the deleted key becomes the kept key's member,
or is deleted when the segment has that member already; a segment that lost a member has its
``url_count``, ``domain_count`` and ``top_domains`` counted again from its members, as a build
counts them. Nothing else refers to inventory rows (no foreign key, no other table keyed by
their id or hash). The classification store (``url_classifications``, shared by accounts) is
left as it is: see ``write_keys`` and ``classifications_for_urls``, which read the plain row
first, and ``_one_per_page``, which counts a page once in its domain's aggregate.

Only rows whose stored URL has a host ending in '.' are candidates: they are found with a
LIKE on the URL (then checked in Python) and handled in batches by id, so a large inventory is
never loaded whole.

Revision ID: 0206_activation_root_dot
Revises: 0205_contextual_site_holds
Create Date: 2026-12-07
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import sqlalchemy as sa
from alembic import op

from beacon.core.db import UTCDateTime

revision = "0206_activation_root_dot"
down_revision = "0205_contextual_site_holds"
branch_labels = None
# The inventory and segment tables come from the activation branch.
depends_on = "0300_activation"

BATCH = 500
TOP_DOMAINS = 10  # as activation.segments.service keeps them
UPLOAD = "upload"

_inventory = sa.table(
    "activation_inventory",
    sa.column("id", sa.Integer()),
    sa.column("account_id", sa.Integer()),
    sa.column("url_hash", sa.String()),
    sa.column("url", sa.Text()),
    sa.column("domain", sa.String()),
    sa.column("source", sa.String()),
    sa.column("created_date", UTCDateTime()),
)
_store = sa.table("url_classifications", sa.column("url_hash", sa.String()))
_segments = sa.table(
    "activation_segments",
    sa.column("id", sa.Integer()),
    sa.column("account_id", sa.Integer()),
    sa.column("url_count", sa.Integer()),
    sa.column("domain_count", sa.Integer()),
    sa.column("top_domains", sa.Text()),
)
_members = sa.table(
    "activation_segment_urls",
    sa.column("segment_id", sa.Integer()),
    sa.column("url_hash", sa.String()),
    sa.column("url", sa.Text()),
    sa.column("domain", sa.String()),
)


def upgrade() -> None:
    merge_root_dot_inventory(op.get_bind())


def downgrade() -> None:
    """Nothing to undo: a merged row cannot be split again (which row each of its fields came
    from, and which segment members were merged, is not kept), and the schema is unchanged:
    code at 0205 reads one row per page as it read two."""


def merge_root_dot_inventory(conn: sa.Connection, *, batch: int = BATCH) -> int:
    """Merge each account's dotted and plain rows of a page (module docstring); returns how
    many rows were deleted."""
    merged = 0
    after = 0
    shrunk: set[int] = set()  # segments that lost a member, each recounted once at the end
    while True:
        rows = conn.execute(
            sa.select(_inventory)
            .where(
                _inventory.c.id > after,
                # A normalised URL always has a path: a dotted host is followed by '/' or ':'.
                _inventory.c.url.like("%://%./%") | _inventory.c.url.like("%://%.:%"),
            )
            .order_by(_inventory.c.id)
            .limit(batch)
        ).all()
        if not rows:
            for segment_id in sorted(shrunk):
                _recount(conn, segment_id)
            return merged
        after = rows[-1].id
        merged += _merge_batch(conn, [row for row in rows if _dotted_host(row.url)], shrunk)


def _merge_batch(conn: sa.Connection, dotted: list[sa.Row[Any]], shrunk: set[int]) -> int:
    plain_keys = {row.id: _plain_keys(row.url) for row in dotted}
    wanted = sorted({h for keys in plain_keys.values() for _, h in keys})
    accounts = sorted({row.account_id for row in dotted})
    plain_rows: dict[tuple[int, str], sa.Row[Any]] = {}
    if wanted:
        for row in conn.execute(
            sa.select(_inventory).where(
                _inventory.c.account_id.in_(accounts), _inventory.c.url_hash.in_(wanted)
            )
        ):
            plain_rows[(row.account_id, row.url_hash)] = row
    deleted = 0
    for row in dotted:
        for plain_url, plain_hash in plain_keys[row.id]:
            other = plain_rows.pop((row.account_id, plain_hash), None)
            if other is not None and other.id != row.id:
                _merge_pair(conn, row, other, (plain_url, plain_hash), shrunk)
                deleted += 1
                break
    return deleted


def _merge_pair(
    conn: sa.Connection,
    dotted: sa.Row[Any],
    plain: sa.Row[Any],
    plain_key: tuple[str, str],
    shrunk: set[int],
) -> None:
    kept, gone = sorted((dotted, plain), key=lambda r: (r.created_date, r.id))
    key = _written_key(conn, dotted=(dotted.url, dotted.url_hash), plain=plain_key)
    domain = kept.domain
    if domain.endswith(".") and not gone.domain.endswith("."):
        domain = gone.domain
    conn.execute(sa.delete(_inventory).where(_inventory.c.id == gone.id))
    conn.execute(
        sa.update(_inventory)
        .where(_inventory.c.id == kept.id)
        .values(
            url=key[0],
            url_hash=key[1],
            domain=domain,
            source=UPLOAD if UPLOAD in (kept.source, gone.source) else kept.source,
            created_date=min(kept.created_date, gone.created_date),
        )
    )
    _merge_members(conn, kept.account_id, (dotted.url_hash, plain.url_hash), key, shrunk)


def _written_key(
    conn: sa.Connection, *, dotted: tuple[str, str], plain: tuple[str, str]
) -> tuple[str, str]:
    """The key ``write_keys`` gives the dotted spelling: its own (plain) unless only the
    dotted key has a store row."""
    present = set(
        conn.scalars(
            sa.select(_store.c.url_hash).where(_store.c.url_hash.in_([dotted[1], plain[1]]))
        )
    )
    return dotted if dotted[1] in present and plain[1] not in present else plain


def _merge_members(
    conn: sa.Connection,
    account_id: int,
    hashes: tuple[str, str],
    key: tuple[str, str],
    shrunk: set[int],
) -> None:
    """The pair's members of the account's segments under the kept key; a segment holding
    both loses one and goes into ``shrunk`` (recounted once, after every merge: a recount
    reads all of a segment's members, too much to do for each pair of a large segment)."""
    members = conn.execute(
        sa.select(_members.c.segment_id, _members.c.url_hash)
        .join(_segments, _segments.c.id == _members.c.segment_id)
        .where(_segments.c.account_id == account_id, _members.c.url_hash.in_(hashes))
    ).all()
    by_segment: dict[int, set[str]] = {}
    for segment_id, url_hash in members:
        by_segment.setdefault(segment_id, set()).add(url_hash)
    for segment_id, present in by_segment.items():
        others = present - {key[1]}
        if not others:
            continue  # the kept key's member alone
        other = others.pop()
        member = (_members.c.segment_id == segment_id) & (_members.c.url_hash == other)
        if key[1] in present:
            conn.execute(sa.delete(_members).where(member))
            shrunk.add(segment_id)
        else:
            conn.execute(sa.update(_members).where(member).values(url_hash=key[1], url=key[0]))


def _recount(conn: sa.Connection, segment_id: int) -> None:
    """A segment's counts from its members, as a build sets them."""
    domains = Counter(
        conn.scalars(sa.select(_members.c.domain).where(_members.c.segment_id == segment_id))
    )
    top = sorted(domains.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_DOMAINS]
    conn.execute(
        sa.update(_segments)
        .where(_segments.c.id == segment_id, _segments.c.url_count.is_not(None))
        .values(
            url_count=sum(domains.values()),
            domain_count=len(domains),
            top_domains=orjson.dumps([{"domain": d, "url_count": n} for d, n in top]).decode(),
        )
    )


def _dotted_host(url: str) -> bool:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    return host.endswith(".") and not host.endswith("..") and len(host) > 1


def _plain_keys(url: str) -> list[tuple[str, str]]:
    """(url, hash) of the plain spelling of a stored dotted URL: its host's dot dropped, and
    (when it differs) that URL as the store normalises it now."""
    from beacon.core.urls import normalize_url

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
    return [(s, hashlib.sha1(s.encode(), usedforsecurity=False).hexdigest()) for s in spellings]
