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

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

Unit = TypeVar("Unit")
REFUSALS = (DataError, IntegrityError)


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
