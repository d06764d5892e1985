"""The one place that lists what each domain contributes: routers, job kinds, periodic tasks."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from fastapi import APIRouter

from beacon.core.config import Settings
from beacon.core.jobs import JobKind, PeriodicTask


def routers() -> list[APIRouter]:
    """Every domain's HTTP router."""
    from beacon.activation.deals.router import router as activation_deal_router
    from beacon.activation.segments.router import router as activation_router
    from beacon.console.router import router as console_router
    from beacon.contextual.router import router as contextual_router
    from beacon.messaging.router import router as messaging_router
    from beacon.pixel.reports.router import router as pixel_reports_router
    from beacon.pixel.router import router as pixel_router
    from beacon.pixel.stats.router import router as pixel_stats_router

    return [
        pixel_router,
        pixel_reports_router,
        pixel_stats_router,
        messaging_router,
        contextual_router,
        activation_router,
        activation_deal_router,
        console_router,
    ]


# Paths that take query parameters they do not declare, exempt from the unknown-parameter 400:
# an OAuth client may add its own (RFC 6749 §3.1), mail clients decorate unsubscribe links,
# and the console keeps its own UI state in the URL. (The pixel collector never reaches routing.)
OPEN_QUERY_PREFIXES = ("/public/v1/oauth/", "/u/", "/app")


def job_kinds(settings: Settings) -> list[JobKind]:
    """Every kind of background job a worker runs."""
    from beacon.activation.tasks import job_kinds as activation_job_kinds
    from beacon.contextual.tasks import batch_job_kind
    from beacon.messaging.audiences.segments import reach_job_kind
    from beacon.messaging.delivery.pipeline import batch_job_kind as messaging_batch_job_kind
    from beacon.pixel.stats.tasks import fold_job_kind
    from beacon.pixel.tasks import report_job

    return [
        reach_job_kind(settings.job_lease_seconds, settings.job_max_attempts),
        messaging_batch_job_kind(settings),
        report_job(settings),
        fold_job_kind(settings),
        batch_job_kind(settings),
        *activation_job_kinds(settings),
    ]


def periodic_tasks(settings: Settings) -> list[PeriodicTask]:
    """Every periodic task a worker runs."""
    from beacon.contextual.tasks import store_refresh_task
    from beacon.messaging.delivery.scheduler import scheduler_task
    from beacon.pixel.stats.tasks import fold_task

    return [store_refresh_task(settings), scheduler_task(settings), fold_task(settings)]


def resources(settings: Settings) -> list[AbstractContextManager[Any]]:
    """What each domain keeps running while a server or worker process is up (entered at
    start, exited first at shutdown)."""
    from beacon.messaging.templates.render_pool import running

    return [running(processes=settings.messaging_render_processes)]
