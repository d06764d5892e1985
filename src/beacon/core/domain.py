"""What a domain contributes to a process: the one description each domain package exposes as
``DOMAIN`` in its ``domain.py``, and the helpers that gather a list of them.

Core never imports a domain; the composition root (``beacon/app.py``, ``beacon/cli.py``) lists
the domains and hands them to core. Every contribution is a factory, called when the process
needs it, so that a command line that never serves HTTP does not import the routers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

import typer
from fastapi import APIRouter, FastAPI
from sqlalchemy import MetaData
from starlette.types import Receive, Scope, Send

from beacon.core.config import Settings
from beacon.core.db import Base
from beacon.core.errors import ErrorFamily
from beacon.core.jobs import JobKind, PeriodicTask


class FrontApp(Protocol):
    """A raw ASGI app that answers its own paths before routing and middleware (a hot path)."""

    def owns(self, path: str) -> bool: ...

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]: ...


@dataclass(frozen=True)
class Command:
    """A command line entry: a group of commands (a ``typer.Typer``) or one command function."""

    name: str
    target: typer.Typer | Callable[..., Any]


def _nothing(*_: Any) -> Sequence[Any]:
    return ()


@dataclass(frozen=True)
class Domain:
    """Everything a domain plugs into the server, the worker and the command line."""

    name: str
    routers: Callable[[], Sequence[APIRouter]] = _nothing
    job_kinds: Callable[[Settings], Sequence[JobKind]] = _nothing
    periodic_tasks: Callable[[Settings], Sequence[PeriodicTask]] = _nothing
    # What the domain keeps running while a server or worker process is up (entered at
    # start, exited first at shutdown).
    resources: Callable[[Settings], Sequence[AbstractContextManager[Any]]] = _nothing
    # Its ORM models modules: imported so that the metadata describes the whole schema.
    models: Callable[[], Sequence[ModuleType]] = _nothing
    commands: Callable[[], Sequence[Command]] = _nothing
    # How errors under a path prefix are rendered (default: the /v1 envelope).
    error_families: tuple[ErrorFamily, ...] = ()
    # Paths that end in a credential: the access log redacts what follows the prefix.
    secret_path_prefixes: tuple[str, ...] = ()
    # Paths that take query parameters they do not declare (exempt from the unknown-parameter 400).
    open_query_prefixes: tuple[str, ...] = ()
    # Built with the app: a raw ASGI app in front of routing (the pixel collector).
    front: Callable[[FastAPI], FrontApp] | None = None
    # Started in the server's lifespan after the resources, stopped after the worker.
    serving: Callable[[FastAPI], AbstractContextManager[Any]] | None = None


def routers(domains: Sequence[Domain]) -> list[APIRouter]:
    """Every domain's HTTP routers, in the order of ``domains``."""
    return [router for domain in domains for router in domain.routers()]


def job_kinds(domains: Sequence[Domain], settings: Settings) -> list[JobKind]:
    """Every kind of background job a worker runs."""
    return [kind for domain in domains for kind in domain.job_kinds(settings)]


def periodic_tasks(domains: Sequence[Domain], settings: Settings) -> list[PeriodicTask]:
    """Every periodic task a worker runs."""
    return [task for domain in domains for task in domain.periodic_tasks(settings)]


def resources(domains: Sequence[Domain], settings: Settings) -> list[AbstractContextManager[Any]]:
    """What the domains keep running while a server or worker process is up."""
    return [resource for domain in domains for resource in domain.resources(settings)]


def metadata(domains: Sequence[Domain]) -> MetaData:
    """The metadata of the whole schema: core's tables and every domain's."""
    from beacon.core import models as core_models  # noqa: F401  (registers core's tables)

    for domain in domains:
        domain.models()
    return Base.metadata


def add_commands(app: typer.Typer, domains: Sequence[Domain]) -> None:
    """Register every domain's commands and command groups on the command line ``app``."""
    for domain in domains:
        for command in domain.commands():
            if isinstance(command.target, typer.Typer):
                app.add_typer(command.target, name=command.name)
            else:
                app.command(command.name)(command.target)
