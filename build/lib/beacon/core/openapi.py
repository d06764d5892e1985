"""OpenAPI descriptions of the error envelopes, so /docs shows them for every status."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class V1Error(BaseModel):
    """The /v1 family's error body."""

    error: str = Field(examples=["not_found"])
    message: str = Field(examples=["Campaign with ID 999 not found"])


_V1_DESCRIPTIONS = {
    400: "Invalid or missing parameters (malformed JSON, missing field, wrong type, unknown parameter)",
    401: "Missing or invalid API key",
    404: "Resource not found (or owned by another account)",
    409: "Conflict with the resource's current state",
    413: "Request body too large",
    415: "Body is not JSON",
    422: "Validation error (well-formed but invalid values)",
    429: "Rate limit exceeded (see Retry-After)",
}


def v1_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting the /v1 error envelope for each status.

    422 is always among them: any operation refuses text it cannot store (U+0000), and this
    keeps FastAPI's own validation-error schema out of the document.
    """
    wanted = sorted({*(statuses or (400, 401, 404, 429)), 422})
    return {s: {"model": V1Error, "description": _V1_DESCRIPTIONS.get(s, "Error")} for s in wanted}
