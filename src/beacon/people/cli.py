"""``beacon users``: console users and their roles in accounts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from beacon.core.cli import DataDir, load_settings, prepare
from beacon.core.db import Database
from beacon.core.errors import APIError
from beacon.core.permissions import Role

users_app = typer.Typer(help="Manage console users and their roles.", no_args_is_help=True)


def _database(data_dir: Path | None) -> Database:
    settings = load_settings(data_dir)
    prepare(settings)
    return Database(settings.effective_database_url)


@users_app.command("create")
def users_create(
    account: Annotated[str, typer.Option("--account", help="Account name (created if missing).")],
    email: Annotated[str, typer.Option("--email", help="The person's email address.")],
    role: Annotated[Role, typer.Option("--role", help="Their role in the account.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Create a user (and the account) if needed and give them ROLE in the account.

    Without --password-stdin a new user gets a generated password, printed alone on the
    last line."""
    from beacon.people import service

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    try:
        with _database(data_dir).transaction() as session:
            ensured = service.ensure_member(
                session=session, account_name=account, email=email, role=role, password=password
            )
    except APIError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    except ValueError as exc:  # the account name
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    verb = "Created user" if ensured.created_user else "User"
    typer.echo(
        f"{verb} {ensured.user.email} is {ensured.role.value} of account '{ensured.account_name}'."
    )
    if ensured.generated_password is not None:
        typer.echo("Their password (shown once):")
        typer.echo(ensured.generated_password)


@users_app.command("list")
def users_list(data_dir: DataDir = None) -> None:
    """List users with their accounts and roles; never a password."""
    from beacon.people import service

    with _database(data_dir).transaction() as session:
        users = service.list_users(session=session)
    typer.echo(f"{'EMAIL':<32} {'STATUS':<9} {'CREATED':<21} ACCOUNTS")
    for user in users:
        accounts = ", ".join(f"{name} ({role.value})" for name, role in user.accounts) or "-"
        status = "disabled" if user.disabled else "active"
        typer.echo(f"{user.email:<32} {status:<9} {user.created_at:%Y-%m-%dT%H:%M:%SZ}  {accounts}")


@users_app.command("disable")
def users_disable(
    email: Annotated[str, typer.Argument(help="The user's email.")],
    data_dir: DataDir = None,
) -> None:
    """Disable a user: they cannot sign in any more and their sessions end now."""
    from beacon.people import service

    try:
        with _database(data_dir).transaction() as session:
            user = service.disable_user(session=session, email=email)
    except APIError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Disabled {user.email}; their sessions have ended.")
