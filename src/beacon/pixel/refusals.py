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
units. One bad unit among N costs about 2·log2(N) extra statements; the accepted units are
written once, in the same transaction as the segment's id, so they count exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def isolate(
    session: Session, units: Sequence[Unit], write: Callable[[Sequence[Unit]], object]
) -> dict[Unit, str]:
    """Write ``units`` with ``write``, each try in a savepoint; the units the database refuses
    (not written), with its reason. Other errors propagate: the caller's transaction fails."""
    if not units:
        return {}
    try:
        with session.begin_nested():
            write(units)
    except REFUSALS as exc:
        if len(units) == 1:
            return {units[0]: describe(exc)}
        middle = len(units) // 2
        return isolate(session, units[:middle], write) | isolate(session, units[middle:], write)
    return {}
