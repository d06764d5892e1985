"""FastAPI dependencies shared by every router: the transaction, the caller, the clock."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session

from beacon.core import auth
from beacon.core.config import Settings
from beacon.core.context import request_context
from beacon.core.db import Database
from beacon.core.errors import Unauthorized, UnsupportedMediaType
from beacon.core.ratelimit import RateLimiter


def get_database(request: Request) -> Database:
    """The application's database."""
    db: Database = request.app.state.db
    return db


def get_app_settings(request: Request) -> Settings:
    """The application's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(db: Annotated[Database, Depends(get_database)]) -> Iterator[Session]:
    """The request's one transaction: committed when the handler returns, rolled back on error."""
    with db.transaction() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session, scope="function")]
AppSettings = Annotated[Settings, Depends(get_app_settings)]

_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="Your Beacon API key"
)


@dataclass(frozen=True)
class Caller:
    account_id: int
    key_id: int


def client_ip(request: Request) -> str:
    """The direct peer's address (proxies are resolved only where a domain needs it)."""
    return request.client.host if request.client else "unknown"


def trusted_client_ip(request: Request, trusted_proxies: list[str]) -> str:
    """The client's address: the peer, or when the peer is a trusted proxy the nearest
    untrusted hop of ``X-Forwarded-For`` (the collector's rule for the viewer's address)."""
    peer = client_ip(request)
    networks = [ipaddress.ip_network(cidr, strict=False) for cidr in trusted_proxies]

    def trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip.version == net.version and ip in net for net in networks)

    if not networks or not trusted(peer):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not trusted(hop):
            return hop
    return peer


def require_api_key(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    settings: AppSettings,
    api_key: Annotated[str | None, Security(_api_key_header)] = None,
) -> Caller:
    """Authenticate ``X-API-Key`` and count the request against that key's quota."""
    limiter: RateLimiter = request.app.state.rate_limiter
    ctx = request_context(request)
    if not api_key:
        ctx.extra_headers = limiter.hit(
            key=f"ip:{client_ip(request)}", limit=settings.anonymous_rate_limit
        ).headers()
        raise Unauthorized("Missing API key: send it in the X-API-Key header")
    with db.transaction() as session:
        key = auth.authenticate_api_key(session=session, presented=api_key)
    if key is None:
        ctx.extra_headers = limiter.hit(
            key=f"ip:{client_ip(request)}", limit=settings.anonymous_rate_limit
        ).headers()
        raise Unauthorized("Invalid or revoked API key")
    ctx.account_id = key.account_id
    ctx.extra_headers = limiter.hit(key=f"key:{key.id}", limit=settings.rate_limit).headers()
    return Caller(account_id=key.account_id, key_id=key.id)


CurrentCaller = Annotated[Caller, Depends(require_api_key)]


def require_json(request: Request) -> None:
    """Refuse bodies that are not JSON with 415, in the envelope."""
    content_type = request.headers.get("content-type", "")
    if request.method in ("POST", "PUT", "PATCH") and "json" not in content_type.lower():
        raise UnsupportedMediaType(
            f"Unsupported content type '{content_type or 'none'}': send application/json"
        )


def wake_worker(request: Request) -> None:
    """Let the in-process worker pick new work up now; run it as a background task, so after
    the request's transaction committed."""
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()
