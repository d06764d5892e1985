"""The people domain: console users, their sessions, invitations and credentials."""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

from beacon.core.domain import Command, Domain


def _models() -> Sequence[ModuleType]:
    from beacon.people import models

    return [models]


def _commands() -> Sequence[Command]:
    from beacon.people.cli import users_app

    return [Command("users", users_app)]


DOMAIN = Domain(name="people", models=_models, commands=_commands)
