"""The OpenAPI document states the constraints the server enforces and the statuses it can
answer, so a client (or schemathesis' positive_data_acceptance) generating from it is accepted."""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs
import pytest

from beacon.app import create_app
from beacon.core.config import Settings
from beacon.core.errors import ValidationFailed
from beacon.core.openapi import GENERATE, with_generation_subsets
from beacon.core.text import NON_BLANK_PATTERN
from beacon.messaging.audience_schemas import RULE_COLUMN_FIELDS, rules_schema
from beacon.messaging.audiences.repository import ADDRESS_KEYS, COLUMN_FIELDS
from beacon.messaging.audiences.segments import validate_rules
from beacon.messaging.idempotency import MAX_KEY_LENGTH

DOCUMENT: dict[str, Any] = create_app(
    Settings(database_url="sqlite://", worker_in_process=False), run_worker=False
).openapi()
OPERATIONS = [
    (method.upper(), path, op)
    for path, item in DOCUMENT["paths"].items()
    for method, op in item.items()
    if method in ("get", "post", "put", "patch", "delete")
]


def _parameter(op: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((p for p in op.get("parameters", []) if p["name"] == name), None)


def test_idempotent_operations_state_the_key_length_and_the_conflict() -> None:
    keyed = [(m, p, op) for m, p, op in OPERATIONS if _parameter(op, "Idempotency-Key")]
    assert len(keyed) >= 10
    for method, path, op in keyed:
        schema = _parameter(op, "Idempotency-Key")["schema"]  # type: ignore[index]
        text = next(s for s in schema.get("anyOf", [schema]) if s.get("type") == "string")
        stated = {**schema, **text}
        assert (stated["minLength"], stated["maxLength"]) == (1, MAX_KEY_LENGTH), (method, path)
        assert "409" in op["responses"], (method, path)
    paths = {p for _, p, _ in keyed}
    assert "/public/v1/segments/{segmentId}/evaluate" in paths
    assert "/public/v1/templates/{templateId}/render" in paths


def test_v1_ids_are_integers_in_range() -> None:
    for method, path, op in OPERATIONS:
        for param in op.get("parameters", []):
            if param["in"] == "path" and path.startswith("/v1/") and param["name"].endswith("id"):
                schema = param["schema"]
                assert schema["type"] == "integer", (method, path)
                assert schema["minimum"] == 1 and schema["maximum"] == 2**31 - 1


def test_execution_ids_state_their_form() -> None:
    op = DOCUMENT["paths"]["/public/v1/campaigns/{campaignId}/executions/{executionId}"]["get"]
    pattern = _parameter(op, "executionId")["schema"]["pattern"]  # type: ignore[index]
    assert re.match(pattern, "exec-4130bada-9264-465f-bc0c-a26bebcfcc81")
    assert re.match(pattern, "4130bada-9264-465f-bc0c-a26bebcfcc81")
    assert not re.match(pattern, "0")


def test_the_token_form_is_documented() -> None:
    op = DOCUMENT["paths"]["/public/v1/oauth/token"]["post"]
    form = op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form["properties"]["grant_type"]["enum"] == ["client_credentials"]
    assert {"400", "401", "429"} <= set(op["responses"])


def test_names_and_codes_state_their_rules() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    create = schemas["beacon__pixel__schemas__CampaignCreate"]["properties"]["name"]
    assert create["pattern"] == NON_BLANK_PATTERN and create["maxLength"] == 200
    activation = schemas["ActivationCreate"]["properties"]
    assert "The Trade Desk" in activation["dsp"]["enum"]
    assert "GB" in activation["geo"]["anyOf"][0]["items"]["enum"]


def test_two_field_rules_and_grammars_are_stated() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    # exactly one of url/text, rules/contactIds; a template's content per channel and status
    assert len(schemas["ClassifyRequest"]["oneOf"]) == 2
    assert len(schemas["beacon__messaging__audience_schemas__SegmentCreate"]["oneOf"]) == 2
    assert len(schemas["TemplateCreate"]["anyOf"]) == 6
    assert schemas["CampaignFilters"]["additionalProperties"] is False
    uploads = {
        path: DOCUMENT["paths"][path]["post"]["requestBody"]["content"][kind]["schema"]
        for path, kind in [
            ("/v1/clsfy/inventory", "text/plain"),
            ("/v1/clsfy/deliveries", "text/csv"),
        ]
    }
    # the upload grammars are generation subsets: the document's own rule stays a string
    assert all("pattern" not in schema for schema in uploads.values())
    assert all("pattern" in schema[GENERATE] for schema in uploads.values())


def test_subsets_are_for_generators_only() -> None:
    # What a generator draws from (a public URL of a few TLDs, US phone numbers, template text
    # without tags) is narrower than what the server accepts, so the document states it only under
    # the vendor key: a client validating against the document accepts every real value.
    schemas = DOCUMENT["components"]["schemas"]
    contact = schemas["ContactIn"]["properties"]
    assert (
        "pattern" not in str(contact["phone"]["anyOf"]) and "pattern" in contact["phone"][GENERATE]
    )
    html = schemas["TemplateCreate"]["anyOf"][0]["properties"]["content"]["properties"]["html"]
    assert "pattern" not in html
    rules = schemas["beacon__messaging__audience_schemas__SegmentCreate"]["properties"]["rules"]
    stated = next(branch for branch in rules["anyOf"] if branch.get("type") == "object")
    assert "anyOf" not in stated and "anyOf" in stated[GENERATE]
    generated = with_generation_subsets(DOCUMENT)
    assert GENERATE not in str(generated)
    html = generated["components"]["schemas"]["TemplateCreate"]["anyOf"][0]["properties"]
    assert html["content"]["properties"]["html"]["pattern"] == "^[^{]*$"
    validator = jsonschema_rs.validator_for(rules_schema())
    assert validator.is_valid({"all": [{"all": [{"all": [{"field": "email", "op": "exists"}]}]}]})


def test_the_stated_segment_rules_are_the_servers() -> None:
    # every rule the document's grammar admits is accepted, and what it refuses the server does
    stated = jsonschema_rs.validator_for(with_generation_subsets(rules_schema()))
    admitted = [
        {"field": "email", "op": "contains", "value": "@x"},
        {"field": "attributes.plan", "op": "gte", "value": 3},
        {"field": "attributes.vip", "op": "exists"},
        {"field": "address.city", "op": "in", "value": ["Paris", "Lyon"]},
        {"any": [{"all": [{"field": "phone", "op": "exists", "value": False}]}]},
    ]
    for rules in admitted:
        assert stated.is_valid(rules) and validate_rules(rules) >= 1, rules
    refused = [
        {},
        {"field": "email", "op": "gt", "value": 3},
        {"field": "attributes.", "op": "exists"},
        {"all": []},
        {"all": [{"field": "email", "op": "exists"}], "any": []},
        {"field": "email", "op": "in", "value": []},
    ]
    for rules in refused:
        assert not stated.is_valid(rules), rules
        with pytest.raises(ValidationFailed):
            validate_rules(rules)
    assert set(RULE_COLUMN_FIELDS) == set(COLUMN_FIELDS) | {f"address.{k}" for k in ADDRESS_KEYS}


def test_a_contacts_country_is_documented_as_any_case() -> None:
    # The enum listed upper-case codes only, beside the whole field (null excluded too),
    # while the server takes 'gb' and stores 'GB'.
    from beacon.core.codes import ANY_CASE_COUNTRY_DESCRIPTION

    country = DOCUMENT["components"]["schemas"]["AddressIn"]["properties"]["country"]
    assert country["description"] == (
        f"{ANY_CASE_COUNTRY_DESCRIPTION} Stored and returned in upper case."
    )
    assert "any case" in country["description"] and "'GB'" in country["description"]
    text, empty = country["anyOf"]
    assert empty == {"type": "null"} and "enum" not in country
    assert {"GB", "gb", "US", "us"} <= set(text["enum"]) and "UK" not in text["enum"]


@pytest.mark.parametrize("schema", ["ReportCreate", "CampaignReportCreate"])
def test_a_reports_end_date_states_the_366_day_limit(schema: str) -> None:
    end_date = DOCUMENT["components"]["schemas"][schema]["properties"]["end_date"]
    assert "at most 366 days" in end_date["description"]


def test_a_reports_geo_filter_is_documented_as_any_case() -> None:
    geo = DOCUMENT["components"]["schemas"]["CampaignFilters"]["properties"]["geo"]
    assert "in any case" in geo["description"]
    assert {"GB", "gb"} <= set(geo["anyOf"][0]["items"]["enum"])
