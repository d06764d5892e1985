"""An account's API keys and OAuth clients as its members manage them in the console: the same
services as ``beacon keys`` and ``beacon clients``, scoped to the member's account and checked
against their role."""

from __future__ import annotations

from sqlalchemy.orm import Session

from beacon.core import auth
from beacon.core.errors import NotFound, ValidationFailed
from beacon.core.permissions import Action, require
from beacon.messaging.oauth import service as oauth
from beacon.people.service import Member


def create_key(*, session: Session, member: Member) -> auth.IssuedKey:
    """A new API key of the member's account; the clear key is returned once."""
    require(member.role, Action.manage_keys)
    return auth.issue_api_key(session=session, account_name=member.account_name)


def list_keys(*, session: Session, member: Member) -> list[auth.KeyInfo]:
    """The account's keys, active first then revoked, oldest first (never a secret)."""
    require(member.role, Action.manage_keys)
    keys = auth.list_api_keys(session=session, account_id=member.account_id)
    return sorted(keys, key=lambda k: (k.revoked_at is not None, k.id))


def revoke_key(*, session: Session, member: Member, prefix: str) -> None:
    """Revoke one of the account's keys by its prefix; 404 when it has no such key. A key
    already revoked stays so without an error (a double click, a form posted again), as an
    invitation withdrawn twice does."""
    require(member.role, Action.manage_keys)
    if len(prefix) == auth.PREFIX_LENGTH and auth.revoke_api_key(
        session=session, prefix=prefix, account_id=member.account_id
    ):
        return
    keys = auth.list_api_keys(session=session, account_id=member.account_id)
    if not any(key.prefix == prefix for key in keys):
        raise NotFound(f"No API key {prefix} in this account")


def create_client(*, session: Session, member: Member, scopes: list[str]) -> oauth.IssuedClient:
    """A new OAuth client of the account with ``scopes``; the secret is returned once."""
    require(member.role, Action.manage_clients)
    try:
        return oauth.create_client(
            session=session, account_name=member.account_name, scopes=" ".join(scopes)
        )
    except ValueError as exc:
        raise ValidationFailed(f"Choose the scopes: {exc}", details={"field": "scopes"}) from None


def list_clients(*, session: Session, member: Member) -> list[oauth.ClientInfo]:
    """The account's OAuth clients, active first (never a secret)."""
    require(member.role, Action.manage_clients)
    clients = oauth.list_clients(session=session, account_id=member.account_id)
    return sorted(clients, key=lambda c: c.revoked_at is not None)


def revoke_client(*, session: Session, member: Member, client_id: str) -> None:
    """Revoke one of the account's clients; its tokens stop working at once. 404 when the
    account has no such client; one already revoked stays so without an error."""
    require(member.role, Action.manage_clients)
    if oauth.revoke_client(session=session, client_id=client_id, account_id=member.account_id):
        return
    clients = oauth.list_clients(session=session, account_id=member.account_id)
    if not any(client.client_id == client_id for client in clients):  # revoked already: done
        raise NotFound(f"No OAuth client {client_id} in this account")
