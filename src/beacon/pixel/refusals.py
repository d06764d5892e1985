"""Hits the database refuses: told apart from outages, isolated, and set aside with the reason.

A segment's increments are written in one transaction. When the database refuses a value in
it (PostgreSQL: integer out of range, a NUL byte in text, an invalid byte sequence, a value
too long for its column; a constraint of either database), retrying the segment fails the
same way forever and no hit of it is ever counted. Those errors are SQLAlchemy's
``DataError`` and ``IntegrityError``; any other database error (connection lost, server
restarting, lock or statement timeout, serialization failure: ``OperationalError`` and the
like) may pass, so the segment stays for a retry.

`isolate` finds the refused units by bisection, each try in a savepoint of the segment's
transaction: the accepted halves stay written, a refused half is split again, down to single
units; when the first half of a refused range is accepted, the second is known to be refused
and is split without a try of its own. One bad unit among N costs about log2(N) to 2·log2(N)
tries; the accepted units are written once, in the same transaction as the segment's id, so
they count exactly once.

The work is bounded (`Budget`): past `MAX_SAVEPOINTS` tries in a segment's transaction, what
is still unresolved (refused ranges not split down yet, ranges not tried) is set aside whole
with the segment's refused hits instead of bisected further; it can be replayed once the
cause is fixed. The bound is what keeps one bad segment from hurting the others, as every try
runs inside the segment's one transaction:

- PostgreSQL caches 64 subtransaction ids per backend (``PGPROC_MAX_CACHED_SUBXIDS``); a
  transaction with more overflows it, and every snapshot on the server then has to look
  them up in ``pg_subtrans``, which slows the whole server, not only this flusher;
- the transaction holds its row locks and the shared lock of ``hold_rollup_writes`` until it
  ends (other flushers writing the same rows, and the rollup jobs, wait), and on SQLite the
  database's one write lock (other writers give up after their 30 s busy timeout);
- split halves lock rows outside the sorted order the other flushers lock them in, so the
  fewer tries, the fewer chances of a deadlock.

A bad unit among the 50,000 rollup keys of a big segment (64 MiB) costs 17 to 33 tries. The
ranges are tried level by level, so when the bound is reached what is set aside is the
refused ranges of the deepest level: over 50,000 keys with 64 tries (simulated), one or two
bad units are isolated alone, three take at most a few dozen good ones with them, five a few
hundred, ten a few thousand; a segment with many more is most likely all bad (a regression of
the enrichment), and replaying it once fixed is the remedy anyway. `VIEW_SAVEPOINTS` of them
are kept for the segment's viewability events, when it has any.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from beacon.core.db import Database
from beacon.pixel import collector_repository as repository
from beacon.pixel import viewability
from beacon.pixel.rollups import RollupKey, increment
from beacon.pixel.spool import Spool, read_segment
from beacon.pixel.tally import Tally

# The flusher's logger: these lines are part of its account of a segment's flush.
log = logging.getLogger("beacon.pixel.consumer")

Unit = TypeVar("Unit")
REFUSALS = (DataError, IntegrityError)
QUARANTINED = "quarantined"  # the rejection reason of records the database refused


def is_refusal(exc: SQLAlchemyError) -> bool:
    """Whether ``exc`` is the database refusing the data (retrying would fail the same way),
    not an outage that a retry may get past."""
    return isinstance(exc, REFUSALS)


def describe(exc: SQLAlchemyError) -> str:
    """The database's own words for a refusal, without the statement or its parameters."""
    orig = getattr(exc, "orig", None)  # the driver's exception, for a DBAPIError
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


MAX_SAVEPOINTS = 64  # tries (savepoints) per segment's transaction, in all: see above
VIEW_SAVEPOINTS = 16  # of those, kept for the viewability events, written after the rollups
UNTRIED = "not written: its segment holds more refused values than the flusher isolates one by one"


@dataclass
class Budget:
    """The tries (savepoints) left to a segment's transaction."""

    savepoints: int = MAX_SAVEPOINTS


def isolate(
    session: Session,
    units: Sequence[Unit],
    write: Callable[[Sequence[Unit]], object],
    budget: Budget,
    *,
    keep: int = 0,
) -> dict[Unit, str]:
    """Write ``units`` with ``write``, each try in a savepoint taken from ``budget`` (leaving
    it ``keep`` for a later batch); the units not written, with the reason: the database's
    for those it refused, alone or in a batch still unresolved when the budget ran out, and
    `UNTRIED` for those not tried then. Other errors propagate: the transaction fails.

    The halves are tried level by level (breadth first), not one half down to its last unit
    before the other: when the budget runs out, every accepted range of the levels tried is
    written, and what is set aside is the refused ranges of the deepest level, not a whole
    untried half of the segment."""
    refused: dict[Unit, str] = {}
    # (range, why the database refused it; None: not tried yet)
    pending: deque[tuple[Sequence[Unit], str | None]] = deque()
    if units:
        pending.append((units, None))
    while pending:
        batch, reason = pending.popleft()
        if reason is None:
            if budget.savepoints <= keep:
                refused |= dict.fromkeys(batch, UNTRIED)
                continue
            reason = _try(session, batch, write, budget)
            if reason is None:
                continue
        if len(batch) == 1:
            refused[batch[0]] = reason
            continue
        if budget.savepoints <= keep:
            whole = f"{reason} (a batch of {len(batch)} set aside whole: {UNTRIED})"
            refused |= dict.fromkeys(batch, whole)
            continue
        first, second = batch[: len(batch) // 2], batch[len(batch) // 2 :]
        first_refused = _try(session, first, write, budget)
        if first_refused is None:
            # the first half written, the refusal is in the second: split it, no try of its own
            pending.append((second, reason))
        else:
            pending.append((first, first_refused))
            pending.append((second, None))
    return refused


def _try(
    session: Session,
    batch: Sequence[Unit],
    write: Callable[[Sequence[Unit]], object],
    budget: Budget,
) -> str | None:
    """Write ``batch`` in a savepoint: None when written, else the database's reason."""
    budget.savepoints -= 1
    try:
        with session.begin_nested():
            write(batch)
    except REFUSALS as exc:
        return describe(exc)
    return None


def count_refusing(
    *,
    db: Database,
    spool: Spool,
    path: Path,
    segment_id: str,
    tally: Tally,
    processed: Callable[[str], bool],
) -> int:
    """Count the segment at ``path`` (``tally``, its records counted in memory) in one
    transaction without the hits the database refuses, found by `isolate`; those go to the
    spool's quarantine with its reason (as ``.partial`` until the segment commits, then
    promoted) and are rejected as `QUARANTINED`. The hits counted; ``processed`` tells
    whether a segment is counted, asked when the commit fails."""
    counts, views = tally.counts, tally.views
    partial: Path | None = None
    try:
        with db.transaction() as session:
            # First, as the flusher's plain write: a concurrent duplicate fails before any
            # increment, and on SQLite the write opens the transaction the savepoints below
            # nest in.
            row = repository.record_segment(session, segment_id=segment_id, hits=0, rejected=0)
            budget = Budget()
            refused_keys = isolate(
                session,
                list(counts),
                lambda keys: increment(session, _only(counts, keys)),
                budget,
                keep=VIEW_SAVEPOINTS if views.idents() else 0,
            )
            for key in refused_keys:
                del counts[key]
            views.drop_impressions(refused_keys)
            refused_views = isolate(
                session,
                views.idents(),
                lambda ids: viewability.record(session, views.only(ids)),
                budget,
            )
            reasons: dict[object, str] = dict([*refused_keys.items(), *refused_views.items()])
            records = [
                (record, reasons[unit])
                for record, unit in zip(read_segment(path), tally.units, strict=True)
                if unit in reasons
            ]
            if records:
                tally.rejected[QUARANTINED] += len(records)
                # Not yet a file of refused hits: it becomes one once the segment commits.
                partial = spool.set_aside(path, segment_id=segment_id, refused=records)
            row.hits = counts.total()
            row.rejected = tally.rejected.total()
    except Exception:
        # The commit may have happened although it failed here (PostgreSQL committed, the
        # answer was lost): then the segment is counted, and so must its refused hits be.
        if partial is None or not _committed_anyway(segment_id, processed):
            raise
    aside = spool.promote(partial) if partial is not None else None
    if records:
        log.warning(
            "spool segment %s: the database refused %d record(s), e.g. %r; the rest are "
            "counted and the refused ones set aside in %s",
            path.name,
            len(records),
            records[0][1],
            aside,
        )
    return row.hits


def _committed_anyway(segment_id: str, processed: Callable[[str], bool]) -> bool:
    """After a failed write of a segment with refused hits: whether it committed all the
    same. Its set-aside `.partial` stays either way: a commit whose answer was lost may
    still be finishing on the server, so "not counted" now is no proof. The retry settles
    it (the flusher's next try: promoted if the segment is counted by then, deleted before
    the segment is written again), as ``SpoolConsumer.settle_refused`` does when the database
    cannot be asked now."""
    try:
        return processed(segment_id)
    except SQLAlchemyError:
        log.exception("cannot tell whether spool segment %s was counted", segment_id)
        return False


def _only(counts: Counter[RollupKey], keys: Iterable[RollupKey]) -> dict[RollupKey, int]:
    return {key: counts[key] for key in keys}
