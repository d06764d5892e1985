"""OpenAPI helpers: the error envelopes (so /docs shows them for every status) and generation
subsets (values a test generator may draw, narrower than what the server accepts)."""

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


# --- Generation subsets ------------------------------------------------------------------------
#
# Some rules the server checks are not one JSON Schema: an email address's grammar, telephone
# numbering plans, the public suffix list, a template language, the grammar of a CSV upload. The
# document states what it can of them (types, lengths, descriptions) and never more, so a client
# validating its requests against the document is never stricter than the server. Under the
# vendor key below it also states a subset of values the server always accepts, which a test
# generator (schemathesis' positive_data_acceptance) uses instead: ``with_generation_subsets``.
GENERATE = "x-beacon-generate"


def generate_within(**keywords: Any) -> dict[str, Any]:
    """A ``json_schema_extra`` (or a schema fragment) stating, for generators only, JSON Schema
    ``keywords`` that narrow a value to a subset the server always accepts."""
    return {GENERATE: keywords}


def with_generation_subsets(document: Any) -> Any:
    """A copy of an OpenAPI document (or a schema) with every generation subset merged into the
    schema that holds it: what a generator should draw valid requests from."""
    if isinstance(document, dict):
        merged = {k: with_generation_subsets(v) for k, v in document.items() if k != GENERATE}
        if GENERATE in document:
            merged.update(with_generation_subsets(document[GENERATE]))
        return merged
    if isinstance(document, list):
        return [with_generation_subsets(v) for v in document]
    return document
