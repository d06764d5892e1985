"""The application factory: settings, database, middleware, error envelopes, worker, and what
the domains it is given contribute (routers, job kinds, a front app, running parts).

Core knows no domain: the composition root (``beacon/app.py``) lists them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import ExitStack, asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from beacon import __version__
from beacon.core import apidocs
from beacon.core import domain as contributions
from beacon.core.clientaddr import ClientAddressResolver
from beacon.core.config import Settings, get_settings
from beacon.core.db import Database
from beacon.core.deps import CheckQuery
from beacon.core.domain import Domain, FrontApp
from beacon.core.errors import ServiceUnavailable, register_error_family
from beacon.core.http import (
    RequestContextMiddleware,
    install_error_handlers,
    register_secret_path_prefix,
)
from beacon.core.jsonbody import StrictJSONRoute, require_strict_json
from beacon.core.metrics import MetricsEndpoint, new_registry
from beacon.core.ratelimit import RateLimiter
from beacon.core.worker import Worker

log = logging.getLogger("beacon")


class BeaconApp(FastAPI):
    """FastAPI with front apps in front: the paths they own (`/metrics`, and domains' hot
    paths such as the pixel collector's `/px/...`) never reach routing or middleware."""

    front_apps: tuple[FrontApp, ...] = ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for front in self.front_apps:
                if front.owns(scope["path"]):
                    await front(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)


def create_app(
    domains: Sequence[Domain],
    settings: Settings | None = None,
    *,
    description: str = "",
    run_worker: bool | None = None,
) -> FastAPI:
    """Build the ASGI application serving ``domains``, described in the OpenAPI document by
    ``description``. ``run_worker`` overrides ``worker_in_process``."""
    settings = settings or get_settings()
    start_worker = settings.worker_in_process if run_worker is None else run_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resources = ExitStack()
        for resource in contributions.resources(domains, settings):
            resources.enter_context(resource)
        serving = ExitStack()
        for domain in domains:
            if domain.serving is not None:
                serving.enter_context(domain.serving(app))
        worker: Worker | None = None
        if start_worker:
            worker = Worker(
                db=app.state.db,
                kinds=contributions.job_kinds(domains, settings),
                periodic=contributions.periodic_tasks(domains, settings),
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
            serving.close()
            app.state.db.dispose()

    app = BeaconApp(
        title="Beacon",
        version=__version__,
        description=description,
        lifespan=lifespan,
        docs_url=None,  # served by core.apidocs from vendored assets, not a CDN
        redoc_url=None,
        # A path with a trailing slash is a 404 naming the path without it (core.http), not
        # Starlette's empty 307 to an absolute http:// URL, which behind TLS downgrades.
        redirect_slashes=False,
        # Form() parameters (the console's forms): a field is bounded by the request body
        # limit, as a JSON body is, not by Starlette's 1 MB a field (which answered its own
        # 400 "Part exceeded maximum size"); a body over the limit is the family's 413.
        form_limits={"max_part_size": settings.max_body_bytes},
    )
    app.state.settings = settings
    app.state.db = Database(settings.effective_database_url)
    app.state.rate_limiter = RateLimiter(
        settings.redis_url.get_secret_value() if settings.redis_url else None
    )
    app.state.client_addresses = ClientAddressResolver(settings.trusted_proxy_list)
    app.state.worker = None
    app.state.runs_worker = start_worker  # read by domains' ``serving`` hooks
    app.state.metrics = new_registry()  # every domain's Prometheus metrics (``/metrics``)
    app.front_apps = (
        MetricsEndpoint(app.state.metrics),
        *(d.front(app) for d in domains if d.front is not None),
    )
    for domain in domains:
        for family in domain.error_families:
            register_error_family(family.path_prefix, family.render)
        for prefix in domain.secret_path_prefixes:
            register_secret_path_prefix(prefix)
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    app.router.route_class = StrictJSONRoute
    app.include_router(apidocs.router)
    open_prefixes = tuple(prefix for d in domains for prefix in d.open_query_prefixes)
    check_query = Depends(CheckQuery(open_prefixes))
    for router in contributions.routers(domains):
        app.include_router(router, dependencies=[check_query])

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

    # Uptime monitors and load balancers probe with HEAD as often as with GET: the probes
    # answer it (they act on nothing), outside the OpenAPI document; the API's own GET routes
    # do not (tests/api/test_methods.py).
    for path, probe in (("/healthz", healthz), ("/readyz", readyz)):
        app.add_api_route(path, probe, methods=["HEAD"], include_in_schema=False)

    require_strict_json(app.routes)
    return app
