"""`beacon ingest-deliveries FILE.csv --account NAME`: load a delivery export from disk."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from beacon.activation.reports.deliveries import LabelledRow


def ingest_deliveries(
    csv_file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="Delivery export with a header row."),
    ],
    account: Annotated[str, typer.Option("--account", help="Account whose deals these are.")],
    batch_id: Annotated[
        str | None,
        typer.Option(
            "--batch-id",
            help="Ingesting the same batch id again replaces it (default: named by the file's "
            "content, so ingesting the same file again replaces it too).",
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", envvar="BEACON_DATA_DIR", help="Data directory."),
    ] = None,
) -> None:
    """Validate and store a delivery CSV as one batch (all rows or none), with a progress bar."""
    from rich.progress import Progress

    from beacon.activation.reports import deliveries
    from beacon.core import auth
    from beacon.core.cli import load_settings, prepare
    from beacon.core.db import Database
    from beacon.core.errors import APIError

    settings = load_settings(data_dir)
    prepare(settings)
    text, rows = _read_rows(csv_file)
    db = Database(settings.effective_database_url)
    try:
        with db.transaction() as session, Progress(transient=True) as progress:
            found = auth.find_account(session=session, name=account)
            if found is None:
                typer.echo(f"error: no account named {account!r}", err=True)
                raise typer.Exit(2)
            task = progress.add_task(f"Ingesting {csv_file.name}", total=len(rows))
            receipt = deliveries.ingest(
                session=session,
                account_id=found.id,
                batch_id=batch_id or deliveries.file_batch_id(text),
                rows=rows,
                progress=lambda n: progress.advance(task, n),
            )
    except APIError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    replaced = f", replacing {receipt.replaced_rows} earlier rows" if receipt.replaced_rows else ""
    typer.echo(f"Stored {receipt.rows} rows in batch {receipt.batch_id}{replaced}.")
    typer.echo(
        f"Impressions {receipt.impressions}, clicks {receipt.clicks}, spend {receipt.spend:.2f}."
    )


def _read_rows(csv_file: Path) -> tuple[str, list[LabelledRow]]:
    from beacon.activation.reports import deliveries
    from beacon.core.errors import APIError

    try:
        text = deliveries.decode_csv(csv_file.read_bytes())
        return text, deliveries.rows_from_csv(text)
    except APIError as exc:
        typer.echo(f"error: {csv_file}: {exc.message}", err=True)
        raise typer.Exit(1) from None
