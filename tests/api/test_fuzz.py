"""Property-based fuzzing of every documented operation against Beacon's own OpenAPI document:
no 5xx, and every response conforms to its documented schema, status codes and envelope."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import (
    ignored_auth,
    negative_data_rejection,
)
from tests.activation.helpers import (
    PAGES,
    built_segment,
    classify_pages,
    issued_deal,
    upload_inventory,
)
from tests.contextual.site.server import OPEN_FETCH, LocalSite
from tests.support import bearer_token

from beacon.app import create_app
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.openapi import with_generation_subsets

# Bounded for the suite; `python bench/fuzz/run.py` runs the same test with many more.
MAX_EXAMPLES = int(os.environ.get("BEACON_FUZZ_EXAMPLES", "10"))

# The document only: the calls go to the test's own app and database (the `client` fixture).
# Values are drawn from its generation subsets where a rule is not one JSON Schema (see
# core.openapi), so positive_data_acceptance holds the server to accepting every such value.
schema = schemathesis.openapi.from_dict(
    with_generation_subsets(
        create_app(Settings(database_url="sqlite://", worker_in_process=False)).openapi()
    )
)
# U+0000 fits no stored text (PostgreSQL refuses it) and every text field refuses it with a 422;
# JSON Schema cannot say "no NUL" once for a whole document, so it is not generated.
schema.config.generation.update(allow_x00=False)


@pytest.fixture(scope="module")
def site() -> Iterator[LocalSite]:
    """A local web site: a URL to classify is a reference to a page, pointed at one of these."""
    with LocalSite() as running:
        yield running


@pytest.fixture
def settings(settings: Settings, site: LocalSite) -> Settings:
    """The test instance's settings, allowed to fetch the local site."""
    _SITE[:] = [site]
    return settings.model_copy(update=OPEN_FETCH)


_SITE: list[LocalSite] = []


@schema.parametrize()
# Fixed examples (derandomize): the suite checks the same cases on every run, so a red CI
# names a real change; bench/fuzz/run.py explores with fresh random examples.
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_operation_conforms_to_contract(
    case: schemathesis.Case, client: TestClient, db: Database, api_key: str, settings: Settings
) -> None:
    # references to real resources and rules across fields: see _HARNESS below
    operation = f"{case.method.upper()} {case.path}"
    if operation in _HARNESS:
        _HARNESS[operation](case, _resources(client, db, api_key, settings))
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
    # 401/403/404/409/429) by every operation: the document states each rule the server checks.
    # Negative cases are not checked for rejection:
    # the harness replaces the generated credentials with valid ones (so a "missing
    # Authorization" case is not missing), and unknown query parameters are ignored by design.
    case.validate_response(response, excluded_checks=[ignored_auth, negative_data_rejection])


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


# --- What JSON Schema cannot state: references to real resources, rules across fields -------
#
# A schema-valid request may name a segment, template, contact or deal by id (a delivery row's
# deal_id too), or a page by URL; only a reference to a resource that exists can be accepted,
# and JSON Schema cannot say which those are (a URL to classify is pointed at a page of a local
# web site, which the test's settings may fetch). Before a
# request is sent, the harness points each such reference at real resources of the caller's
# account, created once per test over the API (the same way it substitutes credentials). It
# also keeps dates within the documented rules across fields (end on or after start, a pixel
# or segment report or stats range of at most 366 days). Everything else is sent as generated.


class _Resources:
    """Real resources of the test's account, created on first use."""

    def __init__(self, client: TestClient, db: Database, api_key: str, settings: Settings) -> None:
        self.client, self.db, self.settings = client, db, settings
        self.v1_headers = {"X-API-Key": api_key}
        self._cache: dict[str, Any] = {}

    def _once(self, name: str, make: Callable[[], Any]) -> Any:
        if name not in self._cache:
            self._cache[name] = make()
        return self._cache[name]

    def v1_segments(self) -> list[int]:
        """Two built (complete) contextual segments, each matching classified inventory."""

        def build() -> list[int]:
            upload_inventory(self.client, self.v1_headers, list(PAGES))
            classify_pages(self.db)
            return [
                built_segment(
                    self.client, self.v1_headers, self.db, self.settings, {"keywords": [k]}, k
                )["id"]
                for k in ("AI chips", "semiconductor")
            ]

        return self._once("v1_segments", build)

    def deals(self) -> list[str]:
        """The deal id of one issued activation."""
        return self._once(
            "deals",
            lambda: [
                issued_deal(
                    self.client, self.v1_headers, self.db, self.settings, self.v1_segments()[:1]
                )["deal_id"]
            ],
        )

    def _public(self, method: str, path: str, body: dict[str, Any]) -> Any:
        headers = {"Authorization": f"Bearer {_bearer_token(self.client, self.db)}"}
        response = self.client.request(method, path, headers=headers, json=body)
        assert response.status_code in (200, 201), response.text
        return response.json()["data"]

    def template(self, channel: str) -> str:
        """A published template of ``channel``."""
        content = {
            "email": {
                "subject": "Hi",
                "html": "<p>Hi {{ firstName }}</p>",
                "text": "Hi",
                "fromAddress": "news@beacon.io",
            },
            "sms": {"body": "Hi {{ firstName }}"},
            "direct_mail": {"html": "<p>Hi</p>", "addressBlock": "{{ firstName }}"},
        }[channel]
        body = {
            "name": f"{channel} t",
            "channel": channel,
            "status": "published",
            "content": content,
        }
        return self._once(
            f"template:{channel}", lambda: self._public("POST", "/public/v1/templates", body)["id"]
        )

    def contact(self) -> str:
        body = {"contacts": [{"externalId": "fuzz-1", "email": "fuzz@example.com"}]}
        return self._once(
            "contact", lambda: self._public("POST", "/public/v1/contacts", body)["ids"][0]
        )

    def messaging_segments(self) -> list[str]:
        body = {"name": "fuzz", "contactIds": [self.contact()]}
        return self._once(
            "msg_segments", lambda: [self._public("POST", "/public/v1/segments", body)["id"]]
        )


_RESOURCES: dict[int, _Resources] = {}


def _resources(client: TestClient, db: Database, api_key: str, settings: Settings) -> _Resources:
    key = id(client)
    if key not in _RESOURCES:
        _RESOURCES.clear()
        _RESOURCES[key] = _Resources(client, db, api_key, settings)
    return _RESOURCES[key]


def _body(case: schemathesis.Case) -> dict[str, Any]:
    return case.body if isinstance(case.body, dict) else {}


def _replace_ids(container: dict[str, Any], key: str, real: list[Any]) -> None:
    """A generated list of references becomes (at most as many) real ones."""
    if isinstance(container.get(key), list) and container[key]:
        container[key] = real[: len(container[key])]


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _date_range(container: dict[str, Any], max_days: int | None) -> None:
    """end_date on or after start_date (and within ``max_days`` of it)."""
    start, end = _date(container.get("start_date")), _date(container.get("end_date"))
    if start is None or (end is None and "end_date" in container):
        return
    if end is None or end < start or (max_days and (end - start).days >= max_days):
        container["end_date"] = start.isoformat()


def _template_ref(case: schemathesis.Case, resources: _Resources) -> None:
    body = _body(case)
    channel = body.get("channel", "email")
    if isinstance(body.get("templateId"), str) and channel in ("email", "sms", "direct_mail"):
        body["templateId"] = resources.template(channel)


def _audience_refs(case: schemathesis.Case, resources: _Resources) -> None:
    audience = _body(case).get("audience")
    if isinstance(audience, dict):
        for key in ("included", "excluded"):
            _replace_ids(audience, key, resources.messaging_segments())


def _campaign_refs(case: schemathesis.Case, resources: _Resources) -> None:
    # created up front: later the fuzzer's own calls may have used the account's rate limit
    for channel in ("email", "sms", "direct_mail"):
        resources.template(channel)
    resources.messaging_segments()
    _template_ref(case, resources)
    _audience_refs(case, resources)


def _render_refs(case: schemathesis.Case, resources: _Resources) -> None:
    body = _body(case)
    resources.contact()
    if isinstance(body.get("contactId"), str):
        body["contactId"] = resources.contact()


def _stats_range(case: schemathesis.Case, resources: _Resources) -> None:
    if isinstance(case.query, dict) and "start_date" in case.query:
        case.query.setdefault("end_date", case.query["start_date"])
        _date_range(case.query, 366)


def _pixel_report_range(case: schemathesis.Case, resources: _Resources) -> None:
    _date_range(_body(case), 366)


def _segment_report_refs(case: schemathesis.Case, resources: _Resources) -> None:
    body = _body(case)
    _date_range(body, 366)
    _replace_ids(body, "segment_ids", resources.v1_segments())
    _replace_ids(body, "deal_ids", resources.deals())


def _activation_refs(case: schemathesis.Case, resources: _Resources) -> None:
    body = _body(case)
    if "start_date" in body and "end_date" in body:
        _date_range(body, None)
    _replace_ids(body, "segment_ids", resources.v1_segments())


def _page_ref(case: schemathesis.Case, resources: _Resources) -> None:
    body = _body(case)
    if isinstance(body.get("url"), str):
        body["url"] = _SITE[0].url("/football.html")


def _delivery_refs(case: schemathesis.Case, resources: _Resources) -> None:
    # each row's deal_id (a JSON row, or the second column of a CSV line) names an issued deal
    deal = resources.deals()[0]
    if isinstance(case.body, str) and case.body:
        header, *lines = case.body.splitlines(keepends=True)
        case.body = header + "".join(
            re.sub(r"^([^,]*),[^,]*,", rf"\1,{deal},", line) for line in lines
        )
    for row in _body(case).get("rows") or []:
        if isinstance(row, dict) and "deal_id" in row:
            row["deal_id"] = deal


_HARNESS: dict[str, Callable[[schemathesis.Case, _Resources], None]] = {
    "POST /v1/clsfy/deliveries": _delivery_refs,
    "POST /v1/clsfy/classify": _page_ref,
    "GET /v1/pixel/campaigns/{campaign_id}/stats": _stats_range,
    "POST /v1/pixel/reports/campaign": _pixel_report_range,
    "POST /v1/pixel/reports/publisher": _pixel_report_range,
    "POST /v1/clsfy/activations": _activation_refs,
    "POST /v1/clsfy/reports": _segment_report_refs,
    "POST /public/v1/campaigns": _campaign_refs,
    "PATCH /public/v1/campaigns/{campaignId}": _campaign_refs,
    "POST /public/v1/templates/{templateId}/render": _render_refs,
}
