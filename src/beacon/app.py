"""The composition root: the domains this server is made of (``beacon/domains.py``), handed to
core's app factory and worker. Core knows no domain; this module and ``beacon/cli.py`` are where
they meet.

```
beacon/app.py, beacon/cli.py      composition root: lists the domains
  pixel  messaging  contextual  activation  console  people     (each: domain.py -> DOMAIN)
    core                            config, db, errors, auth, jobs, the app factory
```
"""

from __future__ import annotations

from fastapi import FastAPI

from beacon.core import app as core_app
from beacon.core import domain as contributions
from beacon.core.config import Settings
from beacon.core.jobs import JobKind, PeriodicTask
from beacon.domains import DOMAINS

DESCRIPTION = """
Beacon implements four API families:

* **Measure** — `/v1/pixel/...`: pixel campaigns, pixel code, collector, campaign and publisher reports.
* **Understand** — `/v1/clsfy/classify`: contextual classification of URLs.
* **Activate** — `/v1/clsfy/...`: segments, DSP activations, deliveries and segment reports.
* **Orchestrate** — `/public/v1/...`: messaging campaigns and their observability endpoints.

`/v1` endpoints authenticate with the `X-API-Key` header and answer errors as
`{"error": "<code>", "message": "..."}`.
"""


def create_app(settings: Settings | None = None, *, run_worker: bool | None = None) -> FastAPI:
    """The Beacon ASGI application. ``run_worker`` overrides ``worker_in_process``."""
    return core_app.create_app(DOMAINS, settings, description=DESCRIPTION, run_worker=run_worker)


def job_kinds(settings: Settings) -> list[JobKind]:
    """Every kind of background job a worker runs."""
    return contributions.job_kinds(DOMAINS, settings)


def periodic_tasks(settings: Settings) -> list[PeriodicTask]:
    """Every periodic task a worker runs."""
    return contributions.periodic_tasks(DOMAINS, settings)


# The whole schema, for Alembic and for tests that build it.
metadata = contributions.metadata(DOMAINS)
