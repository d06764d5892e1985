"""Who may do what inside an account: the four roles and the one check every service calls.

Roles are ordered; each action names the least role allowed to perform it. API keys and OAuth
clients are account credentials that admins create, so a service called by the API acts with
``CREDENTIAL_ROLE``.
"""

from __future__ import annotations

from enum import StrEnum

from beacon.core.errors import Forbidden


class Role(StrEnum):
    owner = "owner"
    admin = "admin"
    analyst = "analyst"
    viewer = "viewer"


class Action(StrEnum):
    read = "read"
    run_reports = "run_reports"
    classify = "classify"
    manage_campaigns = "manage_campaigns"
    manage_keys = "manage_keys"
    manage_clients = "manage_clients"
    manage_members = "manage_members"
    delete_account = "delete_account"


_RANK = {Role.viewer: 0, Role.analyst: 1, Role.admin: 2, Role.owner: 3}
_LEAST_ROLE = {
    Action.read: Role.viewer,
    Action.run_reports: Role.analyst,
    Action.classify: Role.analyst,
    Action.manage_campaigns: Role.admin,
    Action.manage_keys: Role.admin,
    Action.manage_clients: Role.admin,
    Action.manage_members: Role.admin,
    Action.delete_account: Role.owner,
}
_WORDS = {
    Action.read: "read this account",
    Action.run_reports: "run reports",
    Action.classify: "run classifications",
    Action.manage_campaigns: "manage campaigns",
    Action.manage_keys: "manage API keys",
    Action.manage_clients: "manage OAuth clients",
    Action.manage_members: "manage members",
    Action.delete_account: "delete the account",
}
CREDENTIAL_ROLE = Role.admin


def allows(role: Role | str, action: Action) -> bool:
    """Whether ``role`` may perform ``action``."""
    return _RANK[Role(role)] >= _RANK[_LEAST_ROLE[action]]


def require(role: Role | str, action: Action) -> None:
    """Raise a 403 ``Forbidden`` unless ``role`` may perform ``action``."""
    if not allows(role, action):
        least = _LEAST_ROLE[action]
        raise Forbidden(
            f"Your role ({Role(role).value}) cannot {_WORDS[action]}; "
            f"ask an {least.value if least != Role.owner else 'owner'} of the account",
        )


def outranks_or_equals(role: Role | str, other: Role | str) -> bool:
    """Whether ``role`` is at least as strong as ``other`` (nobody grants more than they hold)."""
    return _RANK[Role(role)] >= _RANK[Role(other)]
