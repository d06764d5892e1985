"""Property-based fuzzing of every documented operation against Beacon's own OpenAPI document:
no 5xx, and every response conforms to its documented schema, status codes and envelope."""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
)
from tests.support import bearer_token

from beacon.app import create_app
from beacon.core.config import Settings
from beacon.core.db import Database

# Bounded for the suite; `python bench/fuzz/run.py` runs the same test with many more.
MAX_EXAMPLES = int(os.environ.get("BEACON_FUZZ_EXAMPLES", "10"))

# The document only: the calls go to the test's own app and database (the `client` fixture).
schema = schemathesis.openapi.from_dict(
    create_app(Settings(database_url="sqlite://", worker_in_process=False)).openapi()
)
# U+0000 fits no stored text (PostgreSQL refuses it) and every text field refuses it with a 422;
# JSON Schema cannot say "no NUL" once for a whole document, so it is not generated.
schema.config.generation.update(allow_x00=False)

# Operations whose schema-valid requests may still be refused for a reason JSON Schema cannot
# state: a reference to a resource that does not exist in the request body (answered 422
# naming the field), a rule across fields, or a state the request does not see. Each entry
# says why; every other operation must accept whatever its documented schema allows.
POSITIVE_DATA_EXEMPT: dict[str, str] = {
    "POST /v1/pixel/reports/campaign": "filters.domains must be registrable (public suffix list)",
    "POST /v1/pixel/reports/publisher": "filters.domains must be registrable (public suffix list)",
    "GET /v1/pixel/campaigns/{campaign_id}/stats": "at most 366 days (end_date defaults to today)",
    "POST /v1/clsfy/classify": "a URL is fetched (an unreachable page is a 422); text may not classify",
    "POST /v1/clsfy/classify/batch": "each URL must parse as an absolute http(s) URL with a host",
    "POST /v1/clsfy/inventory": "a text upload needs URL lines (a CSV/text grammar)",
    "POST /v1/clsfy/activations": "segment_ids must name existing segments (422 naming the id)",
    "POST /v1/clsfy/deliveries": "rows are checked by the delivery CSV's column rules",
    "POST /v1/clsfy/reports": "segment_ids and deal_ids must name existing resources",
    "POST /v1/clsfy/segments": "a rule set needs at least one rule; keys depend on each other",
    "PUT /v1/clsfy/segments/{segment_id}": "a rule set needs at least one rule",
    "POST /public/v1/campaigns": "templateId must name an existing template of the channel",
    "PATCH /public/v1/campaigns/{campaignId}": "templateId must name an existing template",
    "POST /public/v1/contacts": "email and phone are checked as real addresses; a key is needed",
    "POST /public/v1/contacts/import": "a CSV with a header row (its own grammar)",
    "POST /public/v1/segments": "rules follow the segment rule grammar (docs/orchestrate.md)",
    "POST /public/v1/templates": "a published template needs its channel's content fields",
    "PATCH /public/v1/templates/{templateId}": "content is checked against the template's channel",
    "POST /public/v1/templates/{templateId}/render": "contact email and phone are real addresses",
}


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_operation_conforms_to_contract(
    case: schemathesis.Case, client: TestClient, db: Database, api_key: str
) -> None:
    headers = {"X-API-Key": api_key}
    if case.path.startswith("/public/v1") and not case.path.endswith("/oauth/token"):
        headers["Authorization"] = f"Bearer {_bearer_token(client, db)}"
    kwargs = case.as_transport_kwargs(headers=headers)
    kwargs.pop("base_url", None)
    if not kwargs.get("cookies"):
        kwargs.pop("cookies", None)
    url = kwargs.pop("url")
    if isinstance(kwargs.get("data"), bytes | str):
        kwargs["content"] = kwargs.pop("data")
    if kwargs.get("files"):
        kwargs["files"] = _multipart_parts(kwargs["files"])
    response = client.request(url=url.replace("http://localhost", ""), **kwargs)
    # The checks read the request's body; one the server refused before reading (a multipart
    # body answered without parsing it) is read here from the parts that were generated.
    response.request.read()
    # Every call carries valid credentials (auth has its own tests), so the "invalid auth" probe
    # is moot. Schema-valid requests must be accepted (`positive_data_acceptance`: 2xx, or
    # 401/403/404/409/429) except by the operations of POSITIVE_DATA_EXEMPT. Negative cases are
    # not checked for rejection: the harness replaces the generated credentials with valid ones (so a "missing
    # Authorization" case is not missing), and unknown query parameters are ignored by design.
    excluded = [ignored_auth, negative_data_rejection]
    if f"{case.method.upper()} {case.path}" in POSITIVE_DATA_EXEMPT:
        excluded.append(positive_data_acceptance)
    case.validate_response(response, excluded_checks=excluded)


def _multipart_parts(files: Any) -> Any:
    """Multipart parts as the wire carries them: a generated extra property may be a number,
    a boolean or null, which a multipart part can only hold as its text (the test client,
    unlike a real HTTP client library, cannot stream a non-bytes part)."""

    def content(value: Any) -> Any:
        if isinstance(value, bytes | str) or hasattr(value, "read"):
            return value
        return ("" if value is None else str(value)).encode()

    def part(value: Any) -> Any:
        if isinstance(value, tuple):  # (filename, content[, content type])
            return (value[0], content(value[1]), *value[2:])
        return content(value)

    if isinstance(files, dict):
        return {name: part(value) for name, value in files.items()}
    return [(name, part(value)) for name, value in files]


_TOKENS: dict[int, str] = {}


def _bearer_token(client: TestClient, db: Database) -> str:
    """One all-scopes token per test (the database is wiped between tests)."""
    key = id(client)
    if key not in _TOKENS:
        _TOKENS.clear()
        _TOKENS[key] = bearer_token(client, db)
    return _TOKENS[key]
