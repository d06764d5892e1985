"""Request bodies of the Activate endpoints that take JSON or a text upload (inventory, deliveries):
the raw body, which of the two the Content-Type names, and the OpenAPI ``requestBody`` stating both."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel

from beacon.core.errors import unsupported_content_type
from beacon.core.openapi import generate_within


async def raw_body(request: Request) -> bytes:
    """The request body as sent (for endpoints that accept JSON or text uploads)."""
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]


def content_kind(request: Request, *, text_types: tuple[str, ...]) -> str:
    """``json`` or ``text`` from the Content-Type; 415 for anything else."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if "json" in content_type:
        return "json"
    if content_type in text_types:
        return "text"
    allowed = ", ".join(("application/json", *text_types))
    raise unsupported_content_type(content_type, allowed)


def upload_body(
    model: type[BaseModel], text_type: str, description: str, pattern: str | None = None
) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for an endpoint taking JSON or a text upload (whose grammar, if
    given, is a ``pattern`` every match of which is accepted: a generation subset)."""
    text_schema: dict[str, Any] = {"type": "string", "description": description}
    if pattern is not None:
        text_schema.update(generate_within(pattern=pattern))
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": model.model_json_schema()},
                text_type: {"schema": text_schema},
            },
        }
    }
