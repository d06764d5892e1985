"""Helpers for tests of one migration on old data: an empty database of its own on the test's
backend, and an Alembic configuration pointing at it (the migrations then build it to the
revision before the one under test)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic.config import Config
from sqlalchemy import make_url, text

from beacon.core import db as db_module
from beacon.core.db import make_engine

MIGRATIONS = Path(db_module.__file__).resolve().parent.parent / "migrations"


@contextmanager
def scratch_database(database_url: str, tmp_path: Path, name: str) -> Iterator[str]:
    """The URL of an empty database named after ``name`` beside the test's (a file in
    ``tmp_path`` on SQLite); dropped afterwards on PostgreSQL."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / f'{name}.db'}"
        return
    base = make_url(database_url)
    database = f"{base.database}_{name}"
    admin = make_engine(database_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}"'))
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    try:
        yield base.set(database=database).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def alembic_config(url: str) -> Config:
    """An Alembic configuration of Beacon's migrations on ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config
