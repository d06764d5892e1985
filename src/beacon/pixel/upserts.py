"""Batched additive upserts: many rows per statement, each statement built and compiled once.

`add_rows` inserts rows into a table with a unique key, or adds their counters to the rows
already there. It is generic over the table: the columns written are the keys of the row
dicts, the conflict target is the table's unique constraint, so a new key column or counter
flows through without changing this module.

Why not ``insert().values([...])``: a multi-VALUES statement is compiled anew on every call
(SQLAlchemy cannot cache it, its shape depends on the row count), which took most of the
flusher's time at tens of thousands of rows a flush. Instead:

- SQLite: one cached single-row ``INSERT .. ON CONFLICT DO UPDATE``, compiled once to its
  SQL text and run through the driver's ``executemany`` with one plain tuple per row (values
  converted by the columns' own bind processors, as SQLAlchemy would). Letting SQLAlchemy
  expand the row dicts itself cost more CPU per row than SQLite's own insert;
- PostgreSQL: one ``INSERT .. SELECT .. FROM unnest(<one array per column>) ON CONFLICT DO
  UPDATE`` per table: one round trip and one server-side prepared statement whatever the row
  count, and the server reads the batch as a set, as it would a ``COPY``-ed staging table.

Every batch is written in the order of the unique key, so concurrent flushers (processes of
one server, or several servers sharing one database) lock rows in the same order and wait
for each other instead of deadlocking.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, UniqueConstraint
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

Row = tuple[Any, ...]


def add_rows(
    session: Session,
    table: Table,
    columns: Sequence[str],
    rows: list[Row],
    *,
    measures: Sequence[str],
    touched: Sequence[str] = (),
) -> None:
    """Insert ``rows``, or add their ``measures`` to the existing rows with the same unique key.

    Each row is a tuple of the values of ``columns``, in that order (tuples: building a dict
    per row cost more than the database's insert of it). ``touched`` columns are overwritten
    on conflict. Keys must be unique within ``rows`` (aggregate first)."""
    if not rows:
        return
    columns = tuple(columns)
    measured = tuple(m for m in measures if m in columns)
    rows.sort(key=itemgetter(*(columns.index(name) for name in unique_key(table))))
    dialect = session.get_bind().dialect
    defaults = _scalar_defaults(table, columns)
    by_column = _column_values(dialect, table, columns, rows)
    if dialect.name == "postgresql":
        sql = _unnest_upsert(dialect, table, (*columns, *defaults), measured, tuple(touched))
        by_column += [[value] * len(rows) for value in defaults.values()]
        session.connection().exec_driver_sql(sql, tuple(by_column))
    else:
        sql, order = _positional_upsert(dialect, table, columns, measured, tuple(touched))
        values = dict(zip(columns, by_column, strict=True))
        for name, value in defaults.items():
            values[name] = [value] * len(rows)
        params = list(zip(*(values[name] for name in order), strict=True))
        session.connection().exec_driver_sql(sql, params)


@cache
def unique_key(table: Table) -> tuple[str, ...]:
    """The columns of ``table``'s unique constraint: what identifies a rollup row."""
    (constraint,) = (c for c in table.constraints if isinstance(c, UniqueConstraint))
    return tuple(column.name for column in constraint.columns)


@cache
def _scalar_defaults(table: Table, columns: tuple[str, ...]) -> dict[str, Any]:
    # What Core's INSERT fills in for a column the rows leave out (e.g. `domain` = ''), so
    # the unnest statement writes the same as the single-row one.
    return {
        column.name: column.default.arg  # type: ignore[attr-defined]
        for column in table.columns
        if column.name not in columns and column.default is not None and column.default.is_scalar
    }


@cache
def _single_row_upsert(
    dialect_name: str,
    table: Table,
    columns: tuple[str, ...],
    measures: tuple[str, ...],
    touched: tuple[str, ...],
) -> Insert:
    # Built once per table and column set: with a constant statement, SQLAlchemy compiles it
    # once (its compiled cache) and runs every row through the driver's executemany.
    insert = pg_insert if dialect_name == "postgresql" else sqlite_insert
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=list(unique_key(table)),
        set_={
            **{m: table.c[m] + statement.excluded[m] for m in measures},
            **{t: statement.excluded[t] for t in touched},
        },
    )


@cache
def _positional_upsert(
    dialect: Dialect,
    table: Table,
    columns: tuple[str, ...],
    measures: tuple[str, ...],
    touched: tuple[str, ...],
) -> tuple[str, tuple[str, ...]]:
    # The single-row upsert's SQL text and the column of each positional parameter, in order.
    statement = _single_row_upsert(dialect.name, table, columns, measures, touched)
    values = {column: None for column in (*columns, *_scalar_defaults(table, columns))}
    compiled = statement.values(values).compile(dialect=dialect)
    return str(compiled), tuple(compiled.positiontup or ())


@cache
def _unnest_upsert(
    dialect: Dialect,
    table: Table,
    columns: tuple[str, ...],
    measures: tuple[str, ...],
    touched: tuple[str, ...],
) -> str:
    quote = dialect.identifier_preparer.quote
    name = dialect.identifier_preparer.format_table(table)
    names = ", ".join(quote(column) for column in columns)
    # %b: psycopg sends the arrays in binary, which costs a tenth of the text format's escaping.
    arrays = ", ".join(f"%b::{table.c[c].type.compile(dialect=dialect)}[]" for c in columns)
    updates = [f"{quote(m)} = {name}.{quote(m)} + EXCLUDED.{quote(m)}" for m in measures]
    updates += [f"{quote(t)} = EXCLUDED.{quote(t)}" for t in touched]
    conflict = ", ".join(quote(column) for column in unique_key(table))
    # WITH ORDINALITY: rows go in in the order of the arrays, i.e. of the unique key.
    return (
        f"INSERT INTO {name} ({names}) "
        f"SELECT {names} FROM unnest({arrays}) WITH ORDINALITY AS batch({names}, _position) "
        f"ORDER BY _position "
        f"ON CONFLICT ({conflict}) DO UPDATE SET {', '.join(updates)}"
    )


def _column_values(
    dialect: Dialect, table: Table, columns: tuple[str, ...], rows: list[Row]
) -> list[list[Any]]:
    # One list of bound values per column, transposed in C (zip): the Python loops over rows
    # and values cost more than SQLite's own inserts. The columns with a bind processor
    # (dates, flags, the flush time) hold a few distinct values a batch, so each distinct
    # value is converted once.
    by_column = [list(values) for values in zip(*rows, strict=True)]
    for index, column in enumerate(columns):
        process = _bind_processor(dialect, table, column)
        if process is not None:
            converted = {value: process(value) for value in set(by_column[index])}
            by_column[index] = list(map(converted.__getitem__, by_column[index]))
    return by_column


@cache
def _bind_processor(dialect: Dialect, table: Table, column: str) -> Callable[[Any], Any] | None:
    # What SQLAlchemy would do to the value of a bound parameter (e.g. UTCDateTime's zone,
    # SQLite's ISO dates): the dialect's implementation of the type, as Core resolves it.
    return table.c[column].type.dialect_impl(dialect).bind_processor(dialect)
