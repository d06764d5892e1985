"""Queries over OAuth clients and access tokens (``messaging.oauth`` holds the logic)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from beacon.core.models import Account
from beacon.messaging.models import AccessToken, OAuthClient


def client_by_id(session: Session, client_id: str) -> OAuthClient | None:
    """The client with the public ``client_id`` (revoked or not), or None."""
    return session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))


def clients_with_account_names(
    session: Session, *, account_id: int | None = None
) -> Sequence[Row[OAuthClient, str]]:
    """Every client (or one account's) with its account's name, oldest first."""
    query = select(OAuthClient, Account.name).join(Account, Account.id == OAuthClient.account_id)
    if account_id is not None:
        query = query.where(OAuthClient.account_id == account_id)
    return session.execute(query.order_by(OAuthClient.id)).all()


def token_with_client(session: Session, token_hash: str) -> Row[AccessToken, OAuthClient] | None:
    """The access token stored under ``token_hash`` and its client, or None."""
    return session.execute(
        select(AccessToken, OAuthClient)
        .join(OAuthClient, OAuthClient.id == AccessToken.client_pk)
        .where(AccessToken.token_hash == token_hash)
    ).first()
