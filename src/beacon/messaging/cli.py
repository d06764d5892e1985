"""``beacon clients``: OAuth clients of the /public/v1 (Orchestrate) API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from beacon.core.db import Database

clients_app = typer.Typer(
    help="Manage OAuth clients (client credentials) for the /public/v1 APIs.",
    no_args_is_help=True,
)

DEFAULT_SCOPES = (
    "campaigns:read campaigns:write analytics:read audiences:read audiences:write "
    "templates:read templates:write"
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", envvar="BEACON_DATA_DIR", help="Data directory (SQLite file, spool, outbox)."
    ),
]


def _database(data_dir: Path | None) -> Database:
    from beacon.core.cli import load_settings, prepare

    settings = load_settings(data_dir)
    prepare(settings)
    return Database(settings.effective_database_url)


@clients_app.command("create")
def clients_create(
    account: Annotated[str, typer.Option("--account", help="Account name (created if missing).")],
    scopes: Annotated[
        str, typer.Option("--scopes", help="Space-separated scopes the client may request.")
    ] = DEFAULT_SCOPES,
    data_dir: DataDir = None,
) -> None:
    """Create a client; prints {"client_id", "client_secret"} as JSON alone on the last line."""
    from beacon.messaging.oauth import service as oauth

    try:
        with _database(data_dir).transaction() as session:
            issued = oauth.create_client(session=session, account_name=account, scopes=scopes)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"Created client for account '{issued.account_name}' with scopes: {' '.join(issued.scopes)}"
    )
    typer.echo("Store the secret now: it is not shown again.")
    typer.echo(json.dumps({"client_id": issued.client_id, "client_secret": issued.client_secret}))


@clients_app.command("list")
def clients_list(data_dir: DataDir = None) -> None:
    """List clients (id, account, scopes, created, revoked); never the secret."""
    from beacon.messaging.oauth import service as oauth

    with _database(data_dir).transaction() as session:
        clients = oauth.list_clients(session=session)
    typer.echo(f"{'CLIENT_ID':<24} {'ACCOUNT':<20} {'CREATED':<21} {'REVOKED':<21} SCOPES")
    for c in clients:
        revoked = f"{c.revoked_at:%Y-%m-%dT%H:%M:%SZ}" if c.revoked_at else "-"
        typer.echo(
            f"{c.client_id:<24} {c.account_name:<20} {c.created_at:%Y-%m-%dT%H:%M:%SZ}  "
            f"{revoked:<21} {c.scopes}"
        )


@clients_app.command("revoke")
def clients_revoke(
    client_id: Annotated[str, typer.Argument(help="The client_id to revoke.")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a client; its access tokens stop working at once."""
    from beacon.messaging.oauth import service as oauth

    with _database(data_dir).transaction() as session:
        revoked = oauth.revoke_client(session=session, client_id=client_id)
    if not revoked:
        typer.echo(f"No active client {client_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"Revoked client {client_id}.")
