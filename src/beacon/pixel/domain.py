"""The pixel domain (Measure): campaigns, pixel code, the collector, reports and stats."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType

from fastapi import APIRouter, FastAPI

from beacon.core.config import Settings
from beacon.core.domain import Command, Domain, FrontApp
from beacon.core.jobs import JobKind, PeriodicTask


def _routers() -> Sequence[APIRouter]:
    from beacon.pixel.reports.router import router as reports_router
    from beacon.pixel.router import router
    from beacon.pixel.stats.router import router as stats_router

    return [router, reports_router, stats_router]


def _job_kinds(settings: Settings) -> Sequence[JobKind]:
    from beacon.pixel.stats.tasks import fold_job_kind
    from beacon.pixel.tasks import report_job

    return [report_job(settings), fold_job_kind(settings)]


def _periodic_tasks(settings: Settings) -> Sequence[PeriodicTask]:
    from beacon.pixel.classification import classifier_task
    from beacon.pixel.stats.tasks import fold_task

    return [classifier_task(settings), fold_task(settings)]


def _models() -> Sequence[ModuleType]:
    from beacon.pixel import collector_models, models, viewability_models
    from beacon.pixel.reports import models as report_models
    from beacon.pixel.stats import models as stats_models

    return [collector_models, models, viewability_models, report_models, stats_models]


def _commands() -> Sequence[Command]:
    from beacon.pixel.cli import ingest_log, quarantine_app

    return [Command("ingest-log", ingest_log), Command("pixel-quarantine", quarantine_app)]


def _collector(app: FastAPI) -> FrontApp:
    """The `/px` front app; it accepts hits once the pipeline runs (``_pipeline``)."""
    from beacon.pixel.pipeline import build_collector

    app.state.pixel_collector = build_collector(app.state.settings, app.state.metrics)
    app.state.pixel = None
    return app.state.pixel_collector


@contextmanager
def _pipeline(app: FastAPI) -> Iterator[None]:
    """The collector's spool and flushers, while the server runs (``app.state.pixel``)."""
    from beacon.pixel.pipeline import PixelPipeline

    pipeline = PixelPipeline(
        settings=app.state.settings, db=app.state.db, collector=app.state.pixel_collector
    )
    pipeline.start()
    app.state.pixel = pipeline
    try:
        yield
    finally:
        pipeline.stop()


DOMAIN = Domain(
    name="pixel",
    routers=_routers,
    job_kinds=_job_kinds,
    periodic_tasks=_periodic_tasks,
    models=_models,
    commands=_commands,
    front=_collector,
    serving=_pipeline,
)
