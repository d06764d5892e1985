"""The ``beacon`` command line: serve, worker, keys, db."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import SecretStr

from beacon.core.cli import DataDir, load_settings, prepare, require_writable
from beacon.core.config import Settings
from beacon.core.domain import add_commands
from beacon.domains import DOMAINS

if TYPE_CHECKING:
    from beacon.demo.seed import Credentials

app = typer.Typer(
    help="Beacon: measurement, classification, activation and messaging server.",
    no_args_is_help=True,
    # Plain click help: typer's rich panels print a type (`<bool>`) after every flag.
    rich_markup_mode=None,
)
keys_app = typer.Typer(help="Manage API keys (X-API-Key) for the /v1 APIs.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
add_commands(app, DOMAINS)


def command_name() -> str:
    """How to run this command line again from the current shell: ``beacon`` when that is on
    PATH and is this program, else a path that works (``.venv/bin/beacon`` after ``make run``)."""
    program = Path(sys.argv[0])
    if program.suffix == ".py":  # python -m beacon.cli
        return f"{_shell_path(Path(sys.executable))} -m beacon.cli"
    found = shutil.which(program.name)
    if found is not None and Path(found).resolve() == program.resolve():
        return program.name
    return _shell_path(program)


def _data_dir_option(data_dir: Path) -> str:
    """`` --data-dir DIR`` for a command the server prints, unless the data directory is the
    default ``./var``: run from another shell without it, the command would open another
    database."""
    if data_dir.resolve() == Path("var").resolve():
        return ""
    return f" --data-dir {shlex.quote(str(data_dir.resolve()))}"


def _shell_path(path: Path) -> str:
    # As it was typed: relative to the directory the command was started from, which is
    # where its output is read.
    return str(path) if len(path.parts) > 1 else f"./{path}"


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="On an empty database, create a demo account filled with a month of data "
            "(and, unless BEACON_SMTP_URL is set, a local mail sink for its campaign).",
        ),
    ] = False,
) -> None:
    """Run the API, the pixel collector and a background worker in one process."""
    import uvicorn

    from beacon.app import create_app
    from beacon.core import auth
    from beacon.core.db import Database
    from beacon.core.http import configure_logging
    from beacon.core.transport import CoalescingHttpProtocol

    settings = load_settings(data_dir)
    configure_logging(settings.log_level)
    prepare(settings)
    require_writable(settings.effective_pixel_spool_dir, "pixel spool directory")
    db = Database(settings.effective_database_url)
    with db.transaction() as session:
        first_start = auth.account_count(session=session) == 0
        issued = (
            auth.issue_api_key(session=session, account_name="default") if first_start else None
        )
    demo_credentials = None
    if demo and first_start:
        from beacon.demo import seed

        demo_credentials = seed.prepare(db)
    db.dispose()
    settings = settings.serving_at(_listen_url(host, port))
    base = settings.link_base_url or ""
    if demo_credentials is not None:
        settings = _start_demo(settings, base, demo_credentials)
    elif demo:
        typer.echo("Demo: the database is not empty, so no demo account was created.")
    typer.echo(
        f"Beacon {settings.effective_database_url.split(':', 1)[0]} database, data in {settings.data_dir.resolve()}"
    )
    typer.echo(f"API:  {base}/v1/pixel/campaigns")
    data_dir_option = _data_dir_option(settings.data_dir)
    typer.echo(f"Docs: {base}/docs")
    if issued is not None:
        typer.echo("First start: created account 'default' with this API key (shown once):")
        typer.echo(f"  X-API-Key: {issued.key}")
        typer.echo("  to use it in the docs' examples, paste:")
        typer.echo(f"  export BEACON={base} BEACON_KEY={issued.key}")
    else:
        typer.echo(
            f"Create an API key with: {command_name()} keys create --account NAME{data_dir_option}"
        )
    if demo_credentials is not None:
        typer.echo("\n".join(demo_credentials.console_lines(base)))
    else:
        typer.echo(
            f"Console: {base}/app/ (add a user with: {command_name()} users create "
            f"--account NAME --email EMAIL --role owner{data_dir_option})"
        )
    sys.stdout.flush()
    application = create_app(settings)
    # FastAPI builds each route's handler on the first request that reaches it, about a second
    # for all of them: built now, with the OpenAPI document, so the first request (often a
    # load balancer's readiness probe, with a timeout of a second) is answered as fast as the
    # next.
    application.openapi()
    # Proxy headers are resolved per domain (the collector trusts BEACON_TRUSTED_PROXIES only);
    # uvicorn's own rewriting of the client address would trust loopback blindly.
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
        http=CoalescingHttpProtocol,
    )


def _listen_url(host: str, port: int) -> str:
    """The URL of the address `beacon serve` listens on (a wildcard host as loopback)."""
    wildcard = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}
    name = wildcard.get(host, host)
    return f"http://[{name}]:{port}" if ":" in name else f"http://{name}:{port}"


def _start_demo(settings: Settings, base: str, credentials: Credentials) -> Settings:
    """Fill the demo account in the background once the server answers; print how to look."""
    import threading
    import time

    import httpx

    from beacon.demo import seed
    from beacon.demo.mailsink import MailSink

    if settings.smtp_url is None:
        sink = MailSink(settings.data_dir / "demo-mailbox")
        sink.start()
        settings = settings.model_copy(update={"smtp_url": SecretStr(sink.url)})
        typer.echo(f"Demo: local mail sink {sink.url}, messages in {sink.directory}")

    def fill() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        try:
            result = seed.populate(base, credentials)
        except (seed.DemoFailed, httpx.HTTPError) as exc:
            typer.echo(f"Demo: could not fill the demo account: {exc}", err=True)
            return
        typer.echo(seed.instructions(base, credentials, result))
        sys.stdout.flush()

    typer.echo("Demo: filling the demo account in the background (about a minute)...")
    threading.Thread(target=fill, name="beacon-demo", daemon=True).start()
    return settings


@app.command()
def worker(data_dir: DataDir = None) -> None:
    """Run background workers only (any number may share one PostgreSQL)."""
    import contextlib
    import signal

    from beacon.core import domain as contributions
    from beacon.core.db import Database
    from beacon.core.http import configure_logging
    from beacon.core.signals import StopSignal
    from beacon.core.worker import Worker

    settings = load_settings(data_dir)
    configure_logging(settings.log_level)
    prepare(settings)
    runner = Worker(
        db=Database(settings.effective_database_url),
        kinds=contributions.job_kinds(DOMAINS, settings),
        periodic=contributions.periodic_tasks(DOMAINS, settings),
        poll_interval=settings.worker_poll_interval,
        concurrency=settings.worker_concurrency,
    )
    stop = StopSignal()
    stop.install(signal.SIGTERM, signal.SIGINT)
    typer.echo(f"worker {runner.worker_id} running")
    if settings.link_base_url is None:
        typer.echo(
            "BEACON_PUBLIC_URL is not set: this worker refuses to send email "
            "(its unsubscribe links need the server's public address)",
            err=True,
        )
    with contextlib.ExitStack() as resources:
        for resource in contributions.resources(DOMAINS, settings):
            resources.enter_context(resource)
        runner.run_forever(stop)


@keys_app.command("create")
def keys_create(
    account: Annotated[str, typer.Option("--account", help="Account name (created if missing).")],
    data_dir: DataDir = None,
) -> None:
    """Create an API key; the key is printed alone on the last line."""
    from beacon.core import auth
    from beacon.core.db import Database

    settings = load_settings(data_dir)
    prepare(settings)
    db = Database(settings.effective_database_url)
    try:
        with db.transaction() as session:
            issued = auth.issue_api_key(session=session, account_name=account)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"Created key {issued.prefix}… for account '{issued.account_name}' (id {issued.account_id})."
    )
    typer.echo("Store it now: it is not shown again.")
    typer.echo(issued.key)


@keys_app.command("list")
def keys_list(data_dir: DataDir = None) -> None:
    """List keys (prefix, account, created, revoked); never the secret."""
    from beacon.core import auth
    from beacon.core.db import Database

    settings = load_settings(data_dir)
    prepare(settings)
    with Database(settings.effective_database_url).transaction() as session:
        keys = auth.list_api_keys(session=session)
    typer.echo(f"{'PREFIX':<14} {'ACCOUNT':<24} {'CREATED':<21} REVOKED")
    for key in keys:
        revoked = key.revoked_at.strftime("%Y-%m-%dT%H:%M:%SZ") if key.revoked_at else "-"
        typer.echo(
            f"{key.prefix:<14} {key.account_name:<24} {key.created_at:%Y-%m-%dT%H:%M:%SZ}  {revoked}"
        )


@keys_app.command("revoke")
def keys_revoke(
    key_prefix: Annotated[str, typer.Argument(help="The key's prefix as `keys list` shows it.")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a key by its prefix."""
    from beacon.core import auth
    from beacon.core.db import Database

    settings = load_settings(data_dir)
    prepare(settings)
    with Database(settings.effective_database_url).transaction() as session:
        count = auth.revoke_api_key(session=session, prefix=key_prefix)
    if count == 0:
        typer.echo(f"No active key with prefix {key_prefix!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"Revoked {count} key(s).")


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Apply all database migrations."""
    settings = load_settings(data_dir)
    prepare(settings)
    typer.echo("Database is up to date.")


if __name__ == "__main__":
    app()
