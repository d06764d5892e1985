"""OAuth 2.0 client credentials (RFC 6749 §4.4): clients, access tokens, scopes.

Client secrets and access tokens are random and stored only as SHA-256 hashes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from beacon.core.auth import get_or_create_account
from beacon.core.security import hash_secret, new_secret, secret_matches
from beacon.core.timefmt import utcnow
from beacon.messaging.errors import InvalidClient, OAuthError
from beacon.messaging.models import AccessToken, OAuthClient
from beacon.messaging.oauth import repository as oauth_repository

SCOPES = (
    "campaigns:read",
    "campaigns:write",
    "analytics:read",
    "audiences:read",
    "audiences:write",
    "templates:read",
    "templates:write",
)


@dataclass(frozen=True)
class IssuedClient:
    client_id: str
    client_secret: str
    account_name: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class ClientInfo:
    client_id: str
    account_name: str
    scopes: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str


@dataclass(frozen=True)
class Principal:
    """The caller behind a bearer token."""

    account_id: int
    client_id: str
    scopes: frozenset[str]


def parse_scopes(value: str) -> tuple[str, ...]:
    """Split a space-separated scope string, refusing unknown scopes with ValueError."""
    scopes = tuple(dict.fromkeys(value.split()))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope(s): {' '.join(unknown)}; known: {' '.join(SCOPES)}")
    return scopes


def create_client(*, session: Session, account_name: str, scopes: str) -> IssuedClient:
    """Create an OAuth client for the account (created if needed); the secret is returned once."""
    granted = parse_scopes(scopes)
    if not granted:
        raise ValueError("at least one scope is required")
    account = get_or_create_account(session=session, name=account_name)
    client_id = new_secret("bcl", 12)
    secret = new_secret("bcs", 32)
    session.add(
        OAuthClient(
            account_id=account.id,
            client_id=client_id,
            secret_hash=hash_secret(secret),
            scopes=" ".join(granted),
        )
    )
    session.flush()
    return IssuedClient(client_id, secret, account.name, granted)


def list_clients(*, session: Session, account_id: int | None = None) -> list[ClientInfo]:
    """Every client (or one account's) with its account, oldest first (never the secret)."""
    rows = oauth_repository.clients_with_account_names(session, account_id=account_id)
    return [ClientInfo(c.client_id, name, c.scopes, c.created_at, c.revoked_at) for c, name in rows]


def revoke_client(*, session: Session, client_id: str, account_id: int | None = None) -> bool:
    """Revoke a client (of ``account_id`` when given); its tokens stop working at once.
    False when no active client matches."""
    client = oauth_repository.client_by_id(session, client_id)
    if client is None or client.revoked_at is not None:
        return False
    if account_id is not None and client.account_id != account_id:
        return False
    client.revoked_at = utcnow()
    return True


def issue_token(
    *,
    session: Session,
    client_id: str,
    client_secret: str,
    requested_scope: str | None,
    ttl_seconds: int,
) -> IssuedToken:
    """Authenticate the client and issue a bearer token for the requested subset of its scopes."""
    client = oauth_repository.client_by_id(session, client_id)
    if (
        client is None
        or client.revoked_at is not None
        or not secret_matches(client_secret, client.secret_hash)
    ):
        raise InvalidClient()
    allowed = client.scopes.split()
    if requested_scope is None or not requested_scope.strip():
        granted = allowed
    else:
        granted = list(dict.fromkeys(requested_scope.split()))
        refused = [s for s in granted if s not in allowed]
        if refused:
            # Client text: each scope quoted (cut when long), and at most ten of them.
            named = ", ".join(_scope_named(scope) for scope in refused[:10])
            more = f" and {len(refused) - 10} more" if len(refused) > 10 else ""
            raise OAuthError("invalid_scope", f"Scope(s) not granted to this client: {named}{more}")
    token = new_secret("bat", 32)
    now = utcnow()
    session.add(
        AccessToken(
            client_pk=client.id,
            token_hash=hash_secret(token),
            scopes=" ".join(granted),
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
    )
    session.flush()
    return IssuedToken(token, ttl_seconds, " ".join(granted))


def authenticate_token(*, session: Session, presented: str) -> Principal | None:
    """The principal of an unexpired token whose client is not revoked, else None."""
    if not presented or len(presented) > 200:
        return None
    row = oauth_repository.token_with_client(session, hash_secret(presented))
    if row is None:
        return None
    token, client = row
    if client.revoked_at is not None or token.expires_at <= utcnow():
        return None
    return Principal(client.account_id, client.client_id, frozenset(token.scopes.split()))


# RFC 6749 (5.2): an error_description is printable ASCII without '"' and '\\'; a scope-token
# (3.3) is made of the same characters, so a refused one is named in them or not at all.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_MAX_SCOPE_SHOWN = 100


def _scope_named(scope: str) -> str:
    """A refused scope as an OAuth error_description may name it: quoted, cut with '...'
    past ``_MAX_SCOPE_SHOWN`` characters; a scope no client could be granted, described."""
    if not _SCOPE_TOKEN.fullmatch(scope):
        return "(a scope that is not an RFC 6749 scope-token)"
    if len(scope) > _MAX_SCOPE_SHOWN:
        return f"'{scope[:_MAX_SCOPE_SHOWN]}...' ({len(scope)} characters)"
    return f"'{scope}'"
