"""Engine, ORM base, sessions, migrations, and the queries every repository shares (the
dialect switch of an upsert, a page with its total). Dialect differences live here."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, TypeVar, cast

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    CursorResult,
    DateTime,
    Engine,
    Executable,
    MetaData,
    Select,
    SQLColumnExpression,
    Text,
    bindparam,
    create_engine,
    event,
    func,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql import coercions, roles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator

from beacon.core.timefmt import as_utc

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every ORM model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = as_utc(value)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def make_engine(url: str) -> Engine:
    """An engine tuned for the dialect: WAL and a busy timeout on SQLite, pre-ping on PostgreSQL.

    SQL parameters are never part of an error's text: they carry personal data (a failed batch
    of contacts would otherwise put every email and unsubscribe token into the logs)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
            # PostgreSQL's md5(text), so SQL that hashes keys runs the same on both.
            dbapi_conn.create_function("md5", 1, _md5, deterministic=True)

        return engine
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True
    )


def _md5(value: str | None) -> str | None:
    if value is None:
        return None
    return hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()


def is_postgres(session_or_engine: Session | Engine) -> bool:
    """Whether the bound database is PostgreSQL."""
    bind = (
        session_or_engine.get_bind()
        if isinstance(session_or_engine, Session)
        else session_or_engine
    )
    return bind.dialect.name == "postgresql"


UpsertInsert = postgresql.Insert | sqlite.Insert
"""An ``INSERT`` that takes ``on_conflict_do_update/nothing`` and offers ``excluded``."""


def hold_rows(session: Session, model: Any, *where: ColumnElement[bool]) -> None:
    """Lock the rows of ``model`` matching ``where`` until the transaction ends, so that what
    the transaction reads next is still true when it writes: on PostgreSQL ``FOR NO KEY
    UPDATE`` in primary-key order (other tables' foreign-key checks are not blocked); on
    SQLite a no-op write, so the transaction holds the single writer's lock before it reads (a
    plain read there runs outside any transaction and may be stale by the write)."""
    key = model.__mapper__.primary_key[0]
    if is_postgres(session):
        query = select(key).where(*where).order_by(key)
        session.execute(query.with_for_update(key_share=True))
    else:
        session.execute(
            update(model)
            .where(*where)
            .values({key.key: key})
            .execution_options(synchronize_session=False)
        )


def json_text(session: Session, column: Any, *path: str) -> ColumnElement[str]:
    """The value at ``path`` (keys, outermost first) of a TEXT column that holds JSON, as text,
    on either database. PostgreSQL needs a real cast to json; a CAST to JSON on SQLite would
    turn the text into a number, so there the text is only typed as JSON (json_extract reads
    it as it is)."""
    document = sql_cast(column, JSON) if is_postgres(session) else type_coerce(column, JSON)
    return document[path[0] if len(path) == 1 else path].as_string()


def upsert_insert(session: Session, table: Any) -> UpsertInsert:
    """``insert(table)`` in the bound database's dialect, ready for an ``ON CONFLICT`` clause.

    PostgreSQL and SQLite spell the upsert alike (``on_conflict_do_update``/``_nothing``,
    ``excluded``); only the module of the construct differs, so callers stay dialect-free."""
    insert = postgresql.insert if is_postgres(session) else sqlite.insert
    return insert(table)


T = TypeVar("T")

# values a statement binding one parameter each (``IN`` lists, multi-row VALUES of a few
# columns) takes at most: well below the drivers' caps on parameters a statement (PostgreSQL
# 65,535, SQLite 32,766), whatever else the statement binds
SLICE = 5_000


def slices(values: Sequence[T], size: int = SLICE) -> Iterator[Sequence[T]]:
    """``values`` in consecutive slices of at most ``size``, in their order: one statement a
    slice keeps a per-value parameter list under the drivers' caps (a print-file chunk of
    messaging is a whole batch, up to 100,000 rows), all in the caller's transaction."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def rowcount(session: Session, statement: Executable) -> int:
    """Execute an INSERT/UPDATE/DELETE and return how many rows it touched."""
    # SQLAlchemy 2.1 keeps the driver's rowcount of UPDATE/DELETE only: without this option an
    # INSERT (.. SELECT, .. ON CONFLICT DO NOTHING) answers -1 on PostgreSQL.
    result = session.execute(statement, execution_options={"preserve_rowcount": True})
    return cast(CursorResult[Any], result).rowcount


def executemany(
    session: Session,
    statement: UpdateBase,
    rows: Sequence[Mapping[str, Any]],
    **constants: Any,
) -> None:
    """Run a constant INSERT/UPDATE/DELETE once per parameter set through the driver's
    ``executemany``: ``rows`` give the parameters that vary (every row the same keys),
    ``constants`` the ones shared by all rows (converted once, not once per row).

    ``statement`` must be built once (a module constant: it is compiled once per dialect)
    with a named ``bindparam`` for each parameter. SQLAlchemy's own executemany converts every
    value of every row through the type machinery, which cost more than the database's work
    for the per-row updates of a send (a recipient's stage and message id)."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    sql, names, processors, literals = _driver_form(dialect, statement)
    shared = {**literals}
    for name, value in constants.items():
        process = processors.get(name)
        shared[name] = process(value) if process is not None else value
    varying = [(name, processors.get(name)) for name in rows[0]]
    params: list[Any] = []
    for row in rows:
        values = dict(shared)
        for name, process in varying:
            value = row[name]
            values[name] = process(value) if process is not None else value
        params.append(tuple(values[n] for n in names) if names is not None else values)
    session.connection().exec_driver_sql(sql, params)


@cache
def _driver_form(
    dialect: Dialect, statement: UpdateBase
) -> tuple[str, tuple[str, ...] | None, dict[str, Callable[[Any], Any]], dict[str, Any]]:
    # The statement's SQL text in the driver's paramstyle, the parameter of each position
    # (None for named styles), each parameter's bind processor, and its literal values
    # (`stage = 'sent'`) already converted.
    compiled = statement.compile(dialect=dialect)
    processors: dict[str, Callable[[Any], Any]] = {}
    literals: dict[str, Any] = {}
    for bind, name in compiled.bind_names.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors[name] = process
        if not bind.required:
            literals[name] = process(bind.value) if process is not None else bind.value
    positions = tuple(compiled.positiontup) if compiled.positiontup is not None else None
    return str(compiled), positions, processors, literals


@contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session of ``sessions`` whose work commits on success and rolls back on any exception."""
    session = sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# Opens one transaction: ``Database.transaction``, or a job's ``JobContext.transaction``.
Transaction = Callable[[], AbstractContextManager[Session]]


class Database:
    """One engine and its session factory; the app and every worker hold one."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def transaction(self) -> AbstractContextManager[Session]:
        """A session whose work commits on success and rolls back on any exception."""
        return transaction(self.sessions)

    def ping(self) -> bool:
        """Whether the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL points at (absolute), or None for another database or memory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).absolute()


def upgrade_database(url: str) -> None:
    """Apply every Alembic migration (all domain heads) to the database at ``url``."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option(
        "script_location", str(Path(__file__).resolve().parent.parent / "migrations")
    )
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "heads")


def fetch_page(
    session: Session, query: Select[Any], *, order_by: Sequence[Any], limit: int, offset: int
) -> tuple[Sequence[Any], int]:
    """One page of ``query``'s entities in ``order_by`` order, and the total it matches."""
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(query.order_by(*order_by).limit(limit).offset(offset)).all()
    return items, int(total)


class InTextSet(ColumnElement[bool]):
    """``column IN (the strings of one JSON array parameter)``: see `in_text_set`."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [  # noqa: RUF012 (SQLAlchemy declares it a list)
        ("column", InternalTraversal.dp_clauseelement),
        ("values", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: SQLColumnExpression[Any], values: Iterable[str]) -> None:
        self.column = coercions.expect(roles.ExpressionElementRole, column)
        self.values = bindparam(None, orjson.dumps(list(values)).decode(), type_=Text, unique=True)


def in_text_set(column: SQLColumnExpression[Any], values: Iterable[str]) -> ColumnElement[bool]:
    """Whether ``column`` is one of ``values``, however many: the set is one JSON parameter.

    ``IN (:a, :b, ...)`` binds a parameter per value, and drivers cap those (SQLite at 32,766,
    PostgreSQL at 65,535); a set read from one JSON array has no such limit, and both
    databases hash it for the semi-join. PostgreSQL estimates the set at 100 rows (a
    set-returning function), so a GROUP BY over what it keeps may sort rather than hash;
    ``= ANY(text[])`` is estimated exactly but planned value by value (about 80 ms per
    statement for 35,000 URLs, linear in the set), which measured no faster end to end.
    """
    return InTextSet(column, values)


@compiles(InTextSet, "sqlite")
def _in_text_set_sqlite(element: InTextSet, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    return f"{column} IN (SELECT value FROM json_each({values}))"


@compiles(InTextSet, "postgresql")
def _in_text_set_postgres(element: InTextSet, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    return f"{column} IN (SELECT jsonb_array_elements_text(CAST({values} AS JSONB)))"
