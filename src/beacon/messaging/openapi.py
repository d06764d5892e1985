"""OpenAPI descriptions of the /public/v1 error envelope."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class PublicErrorDetail(BaseModel):
    code: str = Field(examples=["NOT_FOUND"])
    message: str = Field(
        examples=["Campaign with ID 4130bada-9264-465f-bc0c-a26bebcfcc81 not found"]
    )
    details: dict[str, Any] = Field(default_factory=dict)


class PublicError(BaseModel):
    """The /public/v1 family's error body."""

    success: Literal[False] = False
    error: PublicErrorDetail


_DESCRIPTIONS = {
    400: "BAD_REQUEST: malformed JSON, missing field, wrong type, unknown field, malformed UUID",
    401: "UNAUTHENTICATED: missing, invalid, expired or revoked access token",
    403: "INSUFFICIENT_SCOPE: the token lacks the scope this endpoint needs",
    404: "NOT_FOUND: no such resource in your account",
    409: "CONFLICT, TYPE_UNSUPPORTED, SUMMARY_TYPE_UNSUPPORTED, IDEMPOTENCY_CONFLICT or "
    "IDEMPOTENCY_IN_PROGRESS",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE: the body is not JSON",
    422: "VALIDATION_ERROR (or PREFLIGHT_FAILED, TEMPLATE_RENDER_FAILED): invalid values",
    429: "RATE_LIMITED: quota exceeded (see Retry-After)",
    503: "RENDERER_BUSY: every template render process stayed busy for a second (see Retry-After)",
}


def public_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting the /public/v1 error envelope (422 always among
    them, as in ``core.openapi.v1_errors``)."""
    return {
        s: {"model": PublicError, "description": _DESCRIPTIONS.get(s, "Error")}
        for s in sorted({*statuses, 422})
    }
