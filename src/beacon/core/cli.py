"""What every command of the ``beacon`` command line shares: the data directory option, the
settings, and a usable database before a command touches it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from beacon.core.config import Settings, SettingsError
from beacon.core.config import load_settings as settings_from_env

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", envvar="BEACON_DATA_DIR", help="Data directory (SQLite file, spool, outbox)."
    ),
]


def load_settings(data_dir: Path | None) -> Settings:
    """Settings from the environment, with ``--data-dir`` taking precedence."""
    overrides = {"data_dir": data_dir} if data_dir is not None else {}
    try:
        settings = settings_from_env(**overrides)
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    os.environ["BEACON_DATA_DIR"] = str(settings.data_dir)
    return settings


def require_writable(directory: Path, what: str) -> None:
    """Create ``directory`` and write a file in it; exit with a clear message if that fails."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".write-test"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        typer.echo(f"error: {what} {directory} is not writable: {exc.strerror}", err=True)
        raise typer.Exit(2) from None


def prepare(settings: Settings) -> None:
    """Make sure the data directory is usable and the schema is current; exit clearly if not.

    Creating a new SQLite file is said on stderr, so a command run from the wrong directory
    does not silently start an empty database there."""
    from beacon.core.db import sqlite_file, upgrade_database

    require_writable(settings.data_dir, "data directory")
    new_file = sqlite_file(settings.effective_database_url)
    if new_file is not None and new_file.exists():
        new_file = None
    try:
        upgrade_database(settings.effective_database_url)
    except Exception as exc:
        typer.echo(f"error: cannot prepare the database: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(2) from None
    if new_file is not None:
        typer.echo(f"created a new SQLite database at {new_file}", err=True)
