"""Request dependencies of /public/v1: bearer authentication, scopes and per-scope quotas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from beacon.core.config import Settings
from beacon.core.context import request_context
from beacon.core.db import Database
from beacon.core.deps import client_quota_address, get_app_settings, get_database
from beacon.core.errors import Unauthorized
from beacon.core.ratelimit import RateLimiter
from beacon.messaging.errors import InsufficientScope
from beacon.messaging.oauth import service as oauth
from beacon.messaging.oauth.service import Principal

_bearer = HTTPBearer(
    auto_error=False, description="An access token from POST /public/v1/oauth/token"
)

_RATE_CLASS = {"analytics:read": "analytics"}


def _rate_class(scope: str) -> str:
    return _RATE_CLASS.get(scope, "write" if scope.endswith(":write") else "read")


def _limit_for(settings: Settings, rate_class: str) -> str:
    return {
        "read": settings.messaging_read_rate_limit,
        "analytics": settings.messaging_analytics_rate_limit,
        "write": settings.messaging_write_rate_limit,
    }[rate_class]


def require_scope(scope: str) -> Callable[..., Principal]:
    """A dependency authenticating the bearer token, counting its quota and checking ``scope``."""

    def dependency(
        request: Request,
        db: Annotated[Database, Depends(get_database)],
        settings: Annotated[Settings, Depends(get_app_settings)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    ) -> Principal:
        limiter: RateLimiter = request.app.state.rate_limiter
        ctx = request_context(request)
        principal = None
        if credentials is not None:
            with db.transaction() as session:
                principal = oauth.authenticate_token(
                    session=session, presented=credentials.credentials
                )
        if principal is None:
            ctx.extra_headers = limiter.hit(
                key=f"ip:{client_quota_address(request)}", limit=settings.anonymous_rate_limit
            ).headers()
            message = (
                "Missing bearer token: send Authorization: Bearer <access_token>"
                if credentials is None
                else "Invalid, expired or revoked access token"
            )
            challenge = "Bearer" if credentials is None else 'Bearer error="invalid_token"'
            raise Unauthorized(message, headers={"WWW-Authenticate": challenge})
        ctx.account_id = principal.account_id
        rate_class = _rate_class(scope)
        ctx.extra_headers = limiter.hit(
            key=f"oauth:{principal.client_id}:{rate_class}", limit=_limit_for(settings, rate_class)
        ).headers()
        if scope not in principal.scopes:
            raise InsufficientScope(scope)
        return principal

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency


def require_also(principal: Principal, scope: str) -> None:
    """403 ``INSUFFICIENT_SCOPE`` unless the caller also holds ``scope`` (for an operation whose
    input, not its route, decides what it reads)."""
    if scope not in principal.scopes:
        raise InsufficientScope(scope)


CampaignsRead = Annotated[Principal, Depends(require_scope("campaigns:read"))]
CampaignsWrite = Annotated[Principal, Depends(require_scope("campaigns:write"))]
AnalyticsRead = Annotated[Principal, Depends(require_scope("analytics:read"))]
AudiencesRead = Annotated[Principal, Depends(require_scope("audiences:read"))]
AudiencesWrite = Annotated[Principal, Depends(require_scope("audiences:write"))]
TemplatesRead = Annotated[Principal, Depends(require_scope("templates:read"))]
TemplatesWrite = Annotated[Principal, Depends(require_scope("templates:write"))]
