"""``beacon ingest-log``: count the page loads of a web server's access log as pixel events;
``beacon pixel-quarantine``: what the spool flusher set aside, and putting it back."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from beacon.core.cli import DataDir, load_settings, prepare
from beacon.core.ids import MAX_ID

if TYPE_CHECKING:
    from collections.abc import Callable

    from beacon.core.db import Database
    from beacon.pixel.ingest_flush import Flushed
    from beacon.pixel.spool import Spool
    from beacon.pixel.tally import FlushResult


def ingest_log(
    log_file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Combined-format log (.gz ok).")
    ],
    campaign: Annotated[
        int, typer.Option("--campaign", min=1, max=MAX_ID, help="Pixel campaign ID.")
    ],
    site: Annotated[
        str | None,
        typer.Option(help="Site base URL (https://www.example.com) for a page access log."),
    ] = None,
    include_assets: Annotated[
        bool, typer.Option(help="Also count CSS/JS/image requests of a page log.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Ingest the whole file again, even lines already counted."),
    ] = False,
    flusher_wait: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds to wait, in all, for this run's spool segments a running server's "
            "flusher holds; it counts any still held then.",
        ),
    ] = 60.0,
    data_dir: DataDir = None,
) -> None:
    """Count the GET page loads of an nginx/Apache combined-format access log as server-side
    pixel events. A re-run reads only lines added since (the file is remembered)."""
    from rich.progress import Progress

    from beacon.core.db import Database
    from beacon.core.urls import normalize_page_url
    from beacon.pixel import collector_repository, ingest_flush, ingest_log, ingest_repository
    from beacon.pixel.factory import make_consumer, open_spool

    if site is not None and not normalize_page_url(site):
        typer.echo(
            f"error: --site {site!r} is not an absolute http(s) URL (https://www.example.com)",
            err=True,
        )
        raise typer.Exit(2)
    try:
        ingest_log.check_readable(log_file)
    except ingest_log.UnreadableLog as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    settings = load_settings(data_dir)
    prepare(settings)
    db = Database(settings.effective_database_url)
    file_id = ingest_log.identify(log_file, head_bytes=0)
    with db.transaction() as session:
        if not collector_repository.existing_campaign_ids(session, {campaign}):
            typer.echo(f"error: campaign {campaign} does not exist", err=True)
            raise typer.Exit(2)
        known = ingest_repository.find_file(
            session, campaign_id=campaign, device=file_id.device, inode=file_id.inode
        )
        start, done_lines = ingest_log.resume_point(log_file, known, force=force)
    if done_lines:
        typer.echo(
            f"Skipped {done_lines:,} lines already ingested from {log_file} "
            "(use --force to ingest again)."
        )
    elif known is not None and known.lines and not force:
        typer.echo(
            f"{log_file} changed since it was ingested (rotated or replaced): reading it all."
        )
    spool = open_spool(settings, remember_sealed=True)
    with ingest_log.open_log(log_file, start) as handle, Progress(transient=True) as progress:
        size = log_file.stat().st_size
        task = progress.add_task(f"Reading {log_file.name}", total=max(size - start, 0))
        summary = ingest_log.ingest(
            handle,
            spool=spool,
            campaign_id=campaign,
            site=site,
            include_assets=include_assets,
            progress=lambda n: progress.advance(task, n) if log_file.suffix != ".gz" else None,
        )
    spool.close()
    consumer = make_consumer(settings=settings, db=db, spool=spool)
    flushed = ingest_flush.flush_spooled(
        consumer=consumer,
        db=db,
        segments=spool.sealed_here,
        wait=flusher_wait,
        on_wait=lambda: typer.echo("waiting for the server's flusher…", err=True),
    )
    end = start + summary.bytes
    head = ingest_log.identify(log_file, head_bytes=ingest_log.head_length(log_file, end))
    with db.transaction() as session:
        ingest_repository.save_file(
            session,
            campaign_id=campaign,
            device=head.device,
            inode=head.inode,
            head_bytes=head.head_bytes,
            head_sha256=head.head_sha256,
            byte_offset=end,
            lines=done_lines + summary.lines,
            path=str(log_file.resolve()),
        )
    leftovers = ingest_flush.flush_leftovers(consumer=consumer, own=spool.sealed_here)
    db.dispose()
    skipped = ", ".join(f"{n} {reason}" for reason, n in summary.skipped.most_common()) or "none"
    typer.echo(f"Read {summary.lines} lines: {summary.spooled} events spooled; skipped: {skipped}.")
    typer.echo(f"Flushed {flushed.counted} hits into the rollups ({flushed.rejected} rejected).")
    if leftovers.segments:
        typer.echo(
            f"Also flushed {leftovers.counted} hits ({leftovers.rejected.total()} rejected) of "
            f"{leftovers.segments} segment(s) left in the spool by earlier runs or other processes."
        )
    for warning in _uncounted(flushed, leftovers, flusher_wait, spool.directory):
        typer.echo(f"warning: {warning}", err=True)


def _uncounted(
    flushed: Flushed, leftovers: FlushResult, waited: float, spool_dir: Path
) -> list[str]:
    """What the summary says about segments that were not counted, and who counts them."""
    from beacon.pixel.spool import QUARANTINE_DIR

    quarantine = spool_dir / QUARANTINE_DIR
    lines = []
    if flushed.held:
        lines.append(
            f"{flushed.held} spool segment(s) of this run are still held by another flusher "
            f"after {waited:g} s; it counts them (not in the totals above)."
        )
    if flushed.failed or leftovers.failed:
        lines.append(
            f"{flushed.failed + leftovers.failed} spool segment(s) could not be flushed now (a "
            "database or file error, logged above); they stay in the spool for `beacon serve` "
            "or the next `beacon ingest-log` to count."
        )
    if flushed.quarantined:
        lines.append(
            f"{flushed.quarantined} spool segment(s) of this run could not be counted and were "
            f"quarantined in {quarantine}: nothing counts them until a person looks at them."
        )
    if leftovers.quarantined:
        lines.append(
            f"{leftovers.quarantined} spool segment(s) left by others could not be counted and "
            f"were quarantined in {quarantine}."
        )
    if flushed.missing:
        lines.append(
            f"{flushed.missing} spool segment(s) of this run are neither counted nor in the "
            "spool or its quarantine (removed by hand?)."
        )
    return lines


quarantine_app = typer.Typer(
    help="What the pixel spool flusher set aside (docs/measure.md): list it, replay it.",
    no_args_is_help=True,
)


@quarantine_app.command("list")
def quarantine_list(data_dir: DataDir = None) -> None:
    """List the spool's quarantine: whole segments the flusher could not process, and hits
    the database refused, with its reasons."""
    from beacon.pixel.spool import REFUSED_SUFFIX, read_segment

    spool, db = _quarantine(data_dir)
    db.dispose()
    files = spool.quarantined()
    if not files:
        typer.echo(f"Nothing in {spool.directory / 'quarantine'}.")
    for path in files:
        if path.name.endswith(REFUSED_SUFFIX):
            with path.open(encoding="utf-8") as lines:
                reasons = Counter(json.loads(line)["error"] for line in lines)
            typer.echo(f"{path.name}: {reasons.total()} hit(s) the database refused")
            for reason, count in reasons.most_common():
                typer.echo(f"  {count} × {reason}")
        else:
            records = sum(1 for _ in read_segment(path))
            typer.echo(f"{path.name}: a whole segment of {records} record(s) (see the log)")


@quarantine_app.command("replay")
def quarantine_replay(
    names: Annotated[list[str], typer.Argument(help="File names, as `list` shows them.")],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replay refused hits even if their segment is not recorded as counted "
            "(its record is kept 30 days).",
        ),
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Put quarantined files back into the spool (once the cause is fixed): the running
    server's flusher counts them; hits the database still refuses are set aside again."""
    from sqlalchemy.exc import SQLAlchemyError

    from beacon.pixel.spool import UncountedSegment

    spool, db = _quarantine(data_dir)
    failed = False
    for name in names:
        try:
            segment = spool.replay(name, processed=None if force else _processed(db))
        except SQLAlchemyError as exc:
            typer.echo(
                f"error: {name}: the database did not answer, so whether its segment was "
                f"counted cannot be told ({exc.__class__.__name__}); try again",
                err=True,
            )
            failed = True
        except UncountedSegment as exc:
            typer.echo(
                f"error: {name} belongs to segment {exc.segment_id}, which is not recorded as "
                "counted: its other hits were not counted either (a flush that did not commit "
                "left the file), and replaying it could count its hits twice. If its record "
                "was only pruned (after 30 days), replay it with --force.",
                err=True,
            )
            failed = True
        except FileNotFoundError:
            typer.echo(f"error: no {name} in {spool.directory / 'quarantine'}", err=True)
            failed = True
        except FileExistsError as exc:
            typer.echo(f"error: {name} was replayed already; {exc} is not counted yet", err=True)
            failed = True
        else:
            typer.echo(f"{name}: back in the spool as {segment.name}")
    db.dispose()
    if failed:
        raise typer.Exit(2)


def _quarantine(data_dir: Path | None) -> tuple[Spool, Database]:
    """The spool and the database, the refused hits a flusher left unsettled settled first."""
    from sqlalchemy.exc import SQLAlchemyError

    from beacon.core.db import Database
    from beacon.pixel.factory import open_spool

    settings = load_settings(data_dir)
    db = Database(settings.effective_database_url)
    spool = open_spool(settings)
    try:
        spool.reconcile_refused(_processed(db))
    except SQLAlchemyError as exc:
        typer.echo(
            "warning: the database did not answer, so refused hits a flusher left unsettled "
            f"(*.refused.jsonl.partial) stay so: {exc.__class__.__name__}",
            err=True,
        )
    return spool, db


def _processed(db: Database) -> Callable[[str], bool]:
    from beacon.pixel import collector_repository

    def processed(segment_id: str) -> bool:
        with db.transaction() as session:
            return collector_repository.is_segment_processed(session, segment_id)

    return processed
