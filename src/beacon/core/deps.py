"""FastAPI dependencies shared by every router: the transaction, the caller, the clock."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin

from fastapi import Depends, Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader
from pydantic import BaseModel
from sqlalchemy.orm import Session

from beacon.core import auth
from beacon.core.clientaddr import ClientAddressResolver, quota_address
from beacon.core.config import Settings
from beacon.core.context import request_context
from beacon.core.db import Database
from beacon.core.errors import BadRequest, Unauthorized, quoted, unsupported_content_type
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
    """The client's address: the direct peer, or behind a trusted proxy
    (``BEACON_TRUSTED_PROXIES``) the first untrusted ``X-Forwarded-For`` hop, so that quotas
    keyed by it count each client behind a load balancer on its own."""
    peer = request.client.host if request.client else "unknown"
    resolver: ClientAddressResolver | None = getattr(request.app.state, "client_addresses", None)
    if resolver is None or not resolver.has_proxies:
        return peer
    return resolver.client_key(peer, request.headers.get("x-forwarded-for", ""))


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


def client_quota_address(request: Request) -> str:
    """What a per-client-address quota counts the request under: ``client_ip``, an IPv6
    client as its /64 network (``core.clientaddr.quota_address``)."""
    return quota_address(client_ip(request))


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
            key=f"ip:{client_quota_address(request)}", limit=settings.anonymous_rate_limit
        ).headers()
        raise Unauthorized("Missing API key: send it in the X-API-Key header")
    with db.transaction() as session:
        key = auth.authenticate_api_key(session=session, presented=api_key)
    if key is None:
        ctx.extra_headers = limiter.hit(
            key=f"ip:{client_quota_address(request)}", limit=settings.anonymous_rate_limit
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
        raise unsupported_content_type(content_type, "application/json")


def wake_worker(request: Request) -> None:
    """Let the in-process worker pick new work up now; run it as a background task, so after
    the request's transaction committed."""
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()


class CheckQuery:
    """A router dependency: a query parameter the route does not declare is a 400, like an
    unknown body field, instead of being silently ignored (``?ofset=10`` is a typo to report);
    so is a parameter of one value given twice (``?limit=10&limit=20`` would silently take the
    last). Paths under ``open_prefixes`` take parameters they do not declare and are left alone."""

    def __init__(self, open_prefixes: tuple[str, ...] = ()) -> None:
        self.open_prefixes = open_prefixes
        # what each route declares, by the route (held here, so that its id stays its own)
        self._declared: dict[int, tuple[APIRoute, frozenset[str], frozenset[str]]] = {}

    # A value: two with the same open prefixes check alike (what one remembers is read off each
    # route it sees), so that two apps including a router with it include the router alike.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, CheckQuery) and other.open_prefixes == self.open_prefixes

    def __hash__(self) -> int:
        return hash((CheckQuery, self.open_prefixes))

    def __call__(self, request: Request) -> None:
        if not request.query_params or request.url.path.startswith(self.open_prefixes):
            return
        route = request.scope.get("route")
        if not isinstance(route, APIRoute):
            return
        known = self._declared.get(id(route))
        if known is None:
            found, repeatable = _query_names(route.dependant)
            known = self._declared[id(route)] = (route, frozenset(found), frozenset(repeatable))
        _, declared, lists = known
        unknown = [name for name in request.query_params if name not in declared]
        if unknown:
            takes = ", ".join(sorted(declared)) if declared else "no query parameters"
            raise BadRequest(
                f"Unknown parameter {quoted(unknown[0])} (this endpoint takes: {takes})"
            )
        for name in request.query_params:
            count = len(request.query_params.getlist(name))
            if count > 1 and name not in lists:
                raise BadRequest(
                    f"Parameter {quoted(name)} is given {count} times; it takes one value"
                )


def _query_names(dependant: Dependant) -> tuple[set[str], set[str]]:
    """Every query parameter name ``dependant`` and its sub-dependencies read, and those of them
    that take a list (and so may be repeated)."""
    names: set[str] = set()
    lists: set[str] = set()
    for param in dependant.query_params:
        model = param.field_info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            for name, field in model.model_fields.items():
                names.add(field.alias or name)
                if _takes_a_list(field.annotation):
                    lists.add(field.alias or name)
        else:
            names.add(param.alias)
            if _takes_a_list(model):
                lists.add(param.alias)
    for sub in dependant.dependencies:
        sub_names, sub_lists = _query_names(sub)
        names |= sub_names
        lists |= sub_lists
    return names, lists


def _takes_a_list(annotation: Any) -> bool:
    """Whether ``annotation`` is a list (or tuple or set), alone, optional or annotated."""
    origin = get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    return any(_takes_a_list(arg) for arg in get_args(annotation))
