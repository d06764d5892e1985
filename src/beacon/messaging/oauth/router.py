"""``POST /public/v1/oauth/token``: the client credentials grant (RFC 6749 §4.4).

Errors follow RFC 6749 §5.2 (``{"error": "invalid_client", "error_description": ...}``), not
the family's envelope, so that standard OAuth client libraries understand them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from beacon.core.deps import AppSettings, DbSession, client_quota_address
from beacon.core.errors import BadRequest, ValidationFailed
from beacon.core.jsonbody import StrictJSONRoute
from beacon.core.ratelimit import RateLimiter
from beacon.messaging.errors import InvalidClient, OAuthError, SlowDown
from beacon.messaging.oauth import service as oauth

router = APIRouter(
    prefix="/public/v1/oauth", tags=["Orchestrate: authentication"], route_class=StrictJSONRoute
)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    scope: str


class OAuthErrorBody(BaseModel):
    error: str
    error_description: str


# The form, stated for the document (it is parsed by hand: RFC 6749 errors, not the envelope).
# client_id and client_secret may come as HTTP Basic credentials instead.
TOKEN_FORM = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "required": ["grant_type", "client_id", "client_secret"],
                "properties": {
                    "grant_type": {"type": "string", "enum": ["client_credentials"]},
                    "client_id": {"type": "string", "minLength": 1},
                    "client_secret": {"type": "string", "minLength": 1},
                    "scope": {
                        "type": "string",
                        "description": "Space-separated scopes (default: all the client has)",
                    },
                },
            }
        }
    },
}


@dataclass(frozen=True)
class TokenRequest:
    client_id: str
    client_secret: str
    scope: str | None


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("Malformed HTTP Basic credentials") from None
    client_id, _, secret = decoded.partition(":")
    return unquote(client_id), unquote(secret)


def token_attempt(request: Request, settings: AppSettings) -> Iterator[None]:
    """The per-client-address quota of FAILED token requests. Each request is counted before
    the form is read and given back when it does not fail, so successful requests never count
    and concurrent bad attempts get no more secret checks than the quota (reading the quota
    first and counting after the check let every concurrent attempt pass the read). A valid
    client is locked out only by bad attempts from its own address (behind
    ``BEACON_TRUSTED_PROXIES`` the address is the forwarded client's, not the proxy's)."""
    limiter: RateLimiter = request.app.state.rate_limiter
    key = f"token-failures:ip:{client_quota_address(request)}"
    limit = settings.anonymous_rate_limit
    taken = limiter.take(key=key, limit=limit)
    if not taken:
        retry_after = limiter.reset_in(key=key, limit=limit)
        limiter.give_back(taken)  # refused unchecked: not a failure
        raise SlowDown(
            "Too many failed token requests from this address; retry later",
            retry_after=str(retry_after),
        )
    failed = False
    try:
        yield
    except OAuthError:
        failed = True
        raise
    finally:
        if not failed:
            limiter.give_back(taken)


TokenAttempt = Annotated[None, Depends(token_attempt)]


async def token_request(_attempt: TokenAttempt, request: Request) -> TokenRequest:
    """Parse the form body; client credentials may also come as HTTP Basic."""
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        raise OAuthError(
            "invalid_request", "Send the parameters as application/x-www-form-urlencoded"
        )
    try:
        form = await request.form()
    except (BadRequest, ValidationFailed) as exc:  # a NUL, text that is not UTF-8
        raise OAuthError("invalid_request", exc.message) from None
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    grant_type = fields.get("grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", "Missing grant_type")
    if grant_type != "client_credentials":
        raise OAuthError(
            "unsupported_grant_type", "Only grant_type=client_credentials is supported"
        )
    basic = _basic_credentials(request)
    client_id, secret = basic or (fields.get("client_id"), fields.get("client_secret"))
    if not client_id or not secret:
        raise InvalidClient("Missing client_id or client_secret")
    return TokenRequest(client_id, secret, fields.get("scope"))


@router.post(
    "/token",
    response_model=TokenResponse,
    responses={
        400: {
            "model": OAuthErrorBody,
            "description": "invalid_request, invalid_scope, unsupported_grant_type",
        },
        401: {"model": OAuthErrorBody, "description": "invalid_client"},
        429: {
            "model": OAuthErrorBody,
            "description": "slow_down: too many failed requests from this address (Retry-After)",
        },
    },
    summary="Issue an access token (client credentials)",
    openapi_extra={"requestBody": TOKEN_FORM},
)
def issue_token(
    _attempt: TokenAttempt,
    body: Annotated[TokenRequest, Depends(token_request)],
    session: DbSession,
    settings: AppSettings,
) -> JSONResponse:
    issued = oauth.issue_token(
        session=session,
        client_id=body.client_id,
        client_secret=body.client_secret,
        requested_scope=body.scope,
        ttl_seconds=settings.messaging_token_ttl_seconds,
    )
    return JSONResponse(
        TokenResponse(
            access_token=issued.access_token, expires_in=issued.expires_in, scope=issued.scope
        ).model_dump(),
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )
