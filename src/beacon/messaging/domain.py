"""The messaging domain (Orchestrate): campaigns, audiences, templates and their execution."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any

from fastapi import APIRouter

from beacon.core.config import Settings
from beacon.core.domain import Command, Domain
from beacon.core.errors import ErrorFamily
from beacon.core.jobs import JobKind, PeriodicTask
from beacon.messaging.errors import PUBLIC_PREFIX, render_public


def _routers() -> Sequence[APIRouter]:
    from beacon.messaging.router import router

    return [router]


def _job_kinds(settings: Settings) -> Sequence[JobKind]:
    from beacon.messaging.audiences.segments import reach_job_kind
    from beacon.messaging.delivery.pipeline import batch_job_kind

    return [
        reach_job_kind(settings.job_lease_seconds, settings.job_max_attempts),
        batch_job_kind(settings),
    ]


def _periodic_tasks(settings: Settings) -> Sequence[PeriodicTask]:
    from beacon.messaging.delivery.scheduler import scheduler_task

    return [scheduler_task(settings)]


def _resources(settings: Settings) -> Sequence[AbstractContextManager[Any]]:
    from beacon.messaging.templates.render_pool import running

    return [running(processes=settings.messaging_render_processes)]


def _models() -> Sequence[ModuleType]:
    from beacon.messaging import models

    return [models]


def _commands() -> Sequence[Command]:
    from beacon.messaging.cli import clients_app

    return [Command("clients", clients_app)]


DOMAIN = Domain(
    name="messaging",
    routers=_routers,
    job_kinds=_job_kinds,
    periodic_tasks=_periodic_tasks,
    resources=_resources,
    models=_models,
    commands=_commands,
    error_families=(ErrorFamily(PUBLIC_PREFIX, render_public),),
    # The unsubscribe token is the credential of its link: never in the access log.
    secret_path_prefixes=("/u/", "/public/v1/unsubscribe/"),
    # An OAuth client may add its own parameters (RFC 6749 §3.1); mail clients decorate
    # unsubscribe links.
    open_query_prefixes=("/public/v1/oauth/", "/u/"),
)
