"""Shared fixtures: a migrated database per backend (SQLite always, PostgreSQL when configured),
an app and client per test, and small factories."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import make_url, text

from beacon.app import create_app, metadata
from beacon.core import auth
from beacon.core.config import Settings
from beacon.core.db import Database, make_engine, upgrade_database
from tests import route_memo

route_memo.install()  # each app's routes are built once per test process (tests/route_memo.py)

BACKENDS = ["sqlite", "postgres"]


def _worker_postgres_url() -> str | None:
    """BEACON_TEST_POSTGRES_URL, or under pytest-xdist a database of this worker's own
    (``<name>_gw0``, created on first use) so that parallel workers never share a schema."""
    url = os.environ.get("BEACON_TEST_POSTGRES_URL")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    base = make_url(url)
    name = f"{base.database}_{worker}"
    engine = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


POSTGRES_URL = _worker_postgres_url()


def _reset_postgres(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
        # A commit need not wait for its WAL flush here (the tests kill processes and
        # connections, never the database server): every later connection to the test database.
        conn.execute(text(f'ALTER DATABASE "{engine.url.database}" SET synchronous_commit = off'))
    engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database built by the real migrations, once per backend per test session."""
    if request.param == "postgres":
        if not POSTGRES_URL:
            pytest.skip(
                "PostgreSQL tests need BEACON_TEST_POSTGRES_URL (e.g. postgresql+psycopg://postgres@127.0.0.1/test)"
            )
        _reset_postgres(POSTGRES_URL)
        upgrade_database(POSTGRES_URL)
        return POSTGRES_URL
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'beacon.db'}"
    upgrade_database(url)
    return url


# A table holding at least this many rows is emptied with TRUNCATE, the others with DELETE.
_MANY_ROWS = 1_000


def _wipe(db: Database) -> None:
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            # DELETE, not TRUNCATE, for the few rows most tests leave: PostgreSQL's TRUNCATE
            # costs a new file per table (about half a second for all of them a test); but a
            # test's 65,536 recipients took DELETE a minute and a half (each row's foreign keys
            # checked), so a table that many rows is truncated (with what refers to it).
            counted = " UNION ALL ".join(
                f"SELECT '{t}', (SELECT count(*) FROM (SELECT 1 FROM {t} LIMIT {_MANY_ROWS}) s)"
                for t in tables
            )
            many = [name for name, rows in conn.execute(text(counted)) if rows >= _MANY_ROWS]
            if many:
                conn.execute(text(f"TRUNCATE {', '.join(many)} CASCADE"))
        for table in tables:
            conn.execute(text(f"DELETE FROM {table}"))
        if db.engine.dialect.name == "postgresql":  # ids start at 1 again, as SQLite's do
            conn.execute(text("SELECT setval(oid, 1, false) FROM pg_class WHERE relkind = 'S'"))


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A Database on the migrated schema; every table is emptied after the test."""
    database = Database(database_url)
    try:
        yield database
    finally:
        _wipe(database)
        database.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for an isolated instance: its own data dir and no in-process worker."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        worker_in_process=False,
        rate_limit="10000/minute",
        # the TestClient's host; also what workers run by the tests put in unsubscribe links
        public_url="http://testserver",
    )


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    """The application, sharing the test's database."""
    application = create_app(settings, run_worker=False)
    application.state.db.dispose()
    application.state.db = db
    return application


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """An HTTP client bound to the app (lifespan included)."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def make_api_key(db: Database, account: str = "acme") -> str:
    """Create an account (if needed) and a fresh key for it; returns the clear key."""
    with db.transaction() as session:
        return auth.issue_api_key(session=session, account_name=account).key


@pytest.fixture
def key_for(db: Database) -> Callable[[str], str]:
    """Factory: a fresh API key for the named account."""
    return lambda account: make_api_key(db, account)


@pytest.fixture
def api_key(db: Database) -> str:
    """A key for account 'acme'."""
    return make_api_key(db, "acme")


@pytest.fixture
def headers(api_key: str) -> dict[str, str]:
    """Auth headers for account 'acme'."""
    return {"X-API-Key": api_key}
