"""Per-request context shared between the ASGI middleware and the dependencies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

SCOPE_KEY = "beacon"


@dataclass
class RequestContext:
    request_id: str
    account_id: int | None = None
    # what refused the request body while the framework read it (it answers 400 otherwise)
    body_error: Exception | None = None
    extra_headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def request_context(scope_or_request: Request | dict[str, Any]) -> RequestContext:
    """The context the middleware attached to this request."""
    scope = scope_or_request.scope if isinstance(scope_or_request, Request) else scope_or_request
    ctx = scope.get(SCOPE_KEY)
    if ctx is None:
        ctx = scope[SCOPE_KEY] = RequestContext(request_id="-")
    assert isinstance(ctx, RequestContext)
    return ctx
