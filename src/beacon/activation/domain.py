"""The activation domain (Activate): inventory, segments, DSP activations, deals, deliveries and
segment reports."""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

from fastapi import APIRouter

from beacon.core.config import Settings
from beacon.core.domain import Command, Domain
from beacon.core.jobs import JobKind


def _routers() -> Sequence[APIRouter]:
    from beacon.activation.deals.router import router as deals
    from beacon.activation.inventory.router import router as inventory
    from beacon.activation.reports.router import router as reports
    from beacon.activation.segments.router import router as segments

    # The order of the paths in the OpenAPI document (seed 001's order).
    return [inventory, segments, deals, reports]


def _job_kinds(settings: Settings) -> Sequence[JobKind]:
    from beacon.activation.tasks import job_kinds

    return job_kinds(settings)


def _models() -> Sequence[ModuleType]:
    from beacon.activation import models

    return [models]


def _commands() -> Sequence[Command]:
    from beacon.activation.cli import ingest_deliveries

    return [Command("ingest-deliveries", ingest_deliveries)]


DOMAIN = Domain(
    name="activation",
    routers=_routers,
    job_kinds=_job_kinds,
    models=_models,
    commands=_commands,
)
