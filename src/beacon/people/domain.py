"""The people domain: console users, their sessions, invitations and credentials."""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

from beacon.core.config import Settings
from beacon.core.domain import Command, Domain
from beacon.core.jobs import PeriodicTask


def _models() -> Sequence[ModuleType]:
    from beacon.people import models

    return [models]


def _commands() -> Sequence[Command]:
    from beacon.people.cli import users_app

    return [Command("users", users_app)]


def _periodic_tasks(settings: Settings) -> Sequence[PeriodicTask]:
    from beacon.people.tasks import prune_sessions_task

    return [prune_sessions_task(settings)]


DOMAIN = Domain(name="people", models=_models, commands=_commands, periodic_tasks=_periodic_tasks)
