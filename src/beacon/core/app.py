"""The application factory: settings, database, middleware, error envelopes, routers, worker."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from beacon import __version__
from beacon.core import apidocs, domains
from beacon.core.clientaddr import ClientAddressResolver
from beacon.core.config import Settings, get_settings
from beacon.core.db import Database
from beacon.core.deps import RefuseUnknownQuery
from beacon.core.errors import ServiceUnavailable
from beacon.core.http import RequestContextMiddleware, install_error_handlers
from beacon.core.jobs import Worker
from beacon.core.jsonbody import StrictJSONRoute, require_strict_json
from beacon.core.ratelimit import RateLimiter
from beacon.pixel.collector import PixelCollector
from beacon.pixel.pipeline import PixelPipeline, build_collector

log = logging.getLogger("beacon")

DESCRIPTION = """
Beacon implements four API families:

* **Measure** — `/v1/pixel/...`: pixel campaigns, pixel code, collector, campaign and publisher reports.
* **Understand** — `/v1/clsfy/classify`: contextual classification of URLs.
* **Activate** — `/v1/clsfy/...`: segments, DSP activations, deliveries and segment reports.
* **Orchestrate** — `/public/v1/...`: messaging campaigns and their observability endpoints.

`/v1` endpoints authenticate with the `X-API-Key` header and answer errors as
`{"error": "<code>", "message": "..."}`.
"""


class BeaconApp(FastAPI):
    """FastAPI with the pixel collector in front: `/px/...` and `/metrics` never reach routing
    or middleware, they go straight to a raw ASGI app (the hot path)."""

    pixel_collector: PixelCollector | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        collector = self.pixel_collector
        if collector is not None and scope["type"] == "http" and collector.owns(scope["path"]):
            await collector(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, *, run_worker: bool | None = None) -> FastAPI:
    """Build the ASGI application. ``run_worker`` overrides ``worker_in_process``."""
    settings = settings or get_settings()
    start_worker = settings.worker_in_process if run_worker is None else run_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resources = ExitStack()
        for resource in domains.resources(settings):
            resources.enter_context(resource)
        pixel = PixelPipeline(settings=settings, db=app.state.db, collector=collector)
        pixel.start()
        app.state.pixel = pixel
        worker: Worker | None = None
        if start_worker:
            worker = Worker(
                db=app.state.db,
                kinds=domains.job_kinds(settings),
                periodic=domains.periodic_tasks(settings),
                poll_interval=settings.worker_poll_interval,
                concurrency=settings.worker_concurrency,
            )
            worker.start()
        app.state.worker = worker
        try:
            yield
        finally:
            resources.close()  # first: kills template renders, so a running job ends promptly
            if worker is not None:
                worker.stop()
            pixel.stop()
            app.state.db.dispose()

    collector = build_collector(settings)
    app = BeaconApp(
        title="Beacon",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by core.apidocs from vendored assets, not a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = Database(settings.effective_database_url)
    app.state.rate_limiter = RateLimiter(
        settings.redis_url.get_secret_value() if settings.redis_url else None
    )
    app.state.client_addresses = ClientAddressResolver(settings.trusted_proxy_list)
    app.state.worker = None
    app.state.pixel = None
    app.pixel_collector = collector
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    app.router.route_class = StrictJSONRoute
    app.include_router(apidocs.router)
    refuse_unknown_query = Depends(RefuseUnknownQuery(domains.OPEN_QUERY_PREFIXES))
    for router in domains.routers():
        app.include_router(router, dependencies=[refuse_unknown_query])

    @app.get("/healthz", tags=["Operations"], summary="Process is alive")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["Operations"],
        summary="Database is reachable",
        responses={503: {"description": "Database unreachable"}},
    )
    def readyz() -> JSONResponse:
        if not app.state.db.ping():
            raise ServiceUnavailable("Database is not reachable")
        return JSONResponse({"status": "ready"})

    require_strict_json(app.routes)
    return app
