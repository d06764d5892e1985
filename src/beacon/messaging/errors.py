"""The /public/v1 error envelope, OAuth token errors (RFC 6749 §5.2) and domain error helpers."""

from __future__ import annotations

from typing import Any

from beacon.core.errors import APIError, BadRequest, Conflict, Forbidden

PUBLIC_PREFIX = "/public/"

# Core errors carry lowercase codes shared with /v1; this family documents uppercase ones.
_CODE_NAMES = {"unauthorized": "UNAUTHENTICATED", "forbidden": "FORBIDDEN"}


class OAuthError(APIError):
    """An error of the token endpoint, rendered as RFC 6749 §5.2 (``{"error": "invalid_request"}``)."""

    status, code = 400, "invalid_request"

    def __init__(self, code: str, description: str) -> None:
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="beacon"'
        super().__init__(description, code=code, headers=headers)


class InvalidClient(OAuthError):
    """Unknown client, wrong secret or revoked client: 401 ``invalid_client``."""

    status = 401

    def __init__(self, description: str = "Client authentication failed") -> None:
        super().__init__("invalid_client", description)


class SlowDown(OAuthError):
    """Too many failed token requests from this client address: 429 ``slow_down``."""

    status = 429

    def __init__(self, description: str, *, retry_after: str) -> None:
        super().__init__("slow_down", description)
        self.headers["Retry-After"] = retry_after


class InsufficientScope(Forbidden):
    """A valid token that lacks the scope an endpoint needs."""

    code = "INSUFFICIENT_SCOPE"

    def __init__(self, scope: str) -> None:
        super().__init__(
            f"This operation requires the '{scope}' scope",
            details={"requiredScope": scope},
            headers={
                "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"',
            },
        )


def type_unsupported(campaign_type: str, *, summary: bool = False) -> Conflict:
    """409 for campaign types the public v1 does not operate (the seed's ``fetch_summary_safe``)."""
    code = "SUMMARY_TYPE_UNSUPPORTED" if summary else "TYPE_UNSUPPORTED"
    what = "summary" if summary else "operation"
    return Conflict(
        f"The public v1 API does not support this {what} for '{campaign_type}' campaigns",
        code=code,
        details={"campaignType": campaign_type},
    )


def conflict(message: str, **details: Any) -> Conflict:
    """A 409 ``CONFLICT`` with details."""
    return Conflict(message, code="CONFLICT", details=details)


def bad_uuid(name: str) -> BadRequest:
    """400 for a malformed UUID."""
    return BadRequest(f"Invalid path parameter '{name}': expected a UUID")


def render_public(error: APIError, request_id: str) -> dict[str, Any]:
    """``{"success": false, "error": {"code", "message", "details"}}``; token errors per RFC 6749."""
    if isinstance(error, OAuthError):
        return {"error": error.error_code, "error_description": error.message}
    code = _CODE_NAMES.get(error.error_code, error.error_code.upper())
    details = dict(error.details)
    if error.status >= 500:
        details["requestId"] = request_id
    return {"success": False, "error": {"code": code, "message": error.message, "details": details}}
