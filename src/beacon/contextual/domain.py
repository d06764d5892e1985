"""The contextual domain (Understand): fetch, extract and classify URLs, and keep the store of
classifications current. The store's periodic classifier is ticked by the pixel domain, which
queues the pages it sees first (``pixel/classification.py``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType

from fastapi import APIRouter, FastAPI

from beacon.core.config import Settings
from beacon.core.domain import Command, Domain
from beacon.core.jobs import JobKind


def _routers() -> Sequence[APIRouter]:
    from beacon.contextual.router import router

    return [router]


def _job_kinds(settings: Settings) -> Sequence[JobKind]:
    from beacon.contextual.tasks import batch_job_kind

    return [batch_job_kind(settings)]


def _models() -> Sequence[ModuleType]:
    from beacon.contextual import models

    return [models]


def _commands() -> Sequence[Command]:
    from beacon.contextual.cli import classify

    return [Command("classify", classify)]


@contextmanager
def _serving(app: FastAPI) -> Iterator[None]:
    """While a server runs its worker in process, that worker's page classification runs in
    a child process (``contextual/process.py``): the hot path keeps the GIL."""
    if not app.state.runs_worker:
        yield
        return
    from beacon.contextual import process
    from beacon.contextual.metrics import ClassifierCollector

    with process.serving(log_level=app.state.settings.log_level) as child:
        app.state.classifier_process = child
        collector = ClassifierCollector(child)
        app.state.metrics.register(collector)
        try:
            yield
        finally:
            app.state.metrics.unregister(collector)


DOMAIN = Domain(
    name="contextual",
    routers=_routers,
    job_kinds=_job_kinds,
    models=_models,
    commands=_commands,
    serving=_serving,
)
