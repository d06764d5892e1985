"""Input no database can store answers 422 naming the field, on SQLite and PostgreSQL, and
nothing is stored: lone surrogates, non-finite numbers, blank names, oversized rule lists."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.messaging.helpers import API, make_audience, make_campaign, make_template, post

from beacon.app import job_kinds
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.worker import Worker
from beacon.messaging.campaign_schemas import AUDIENCE_MAX

CONTACT = b'{"contacts": [{"email": "a@example.com", "attributes": {"x": %s}}]}'
SEGMENT = b'{"name": "s", "rules": {"field": "attributes.x", "op": "in", "value": ["a", %s]}}'


def _post(client: TestClient, auth: dict[str, str], path: str, raw: bytes) -> Any:
    headers = {**auth, "Content-Type": "application/json"}
    return client.post(f"{API}{path}", headers=headers, content=raw)


def _stored(client: TestClient, auth: dict[str, str], path: str) -> int:
    response = client.get(f"{API}{path}", headers=auth)
    assert response.status_code == 200, response.text
    return int(response.json()["pagination"]["total"])


@pytest.mark.parametrize(
    ("literal", "problem"),
    [
        (b'"\\udc00"', "lone UTF-16 surrogate"),
        (b'"ok \\ud800 then"', "lone UTF-16 surrogate"),
        (b"1e400", "1e400 is not a finite number"),
        (b"-1e400", "-1e400 is not a finite number"),
        (b"NaN", "NaN is not a finite number"),
        (b"Infinity", "Infinity is not a finite number"),
    ],
)
def test_unstorable_values_are_refused_naming_the_field(
    client: TestClient, auth: dict[str, str], literal: bytes, problem: str
) -> None:
    contact = _post(client, auth, "/contacts", CONTACT % literal)
    assert contact.status_code == 422, contact.text
    error = contact.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "'contacts[0].attributes.x'" in error["message"] and problem in error["message"]
    assert error["details"] == {"field": "contacts[0].attributes.x"}
    segment = _post(client, auth, "/segments", SEGMENT % literal)
    assert segment.status_code == 422, segment.text
    assert "'rules.value[1]'" in segment.json()["error"]["message"]
    assert _stored(client, auth, "/contacts") == 0
    assert _stored(client, auth, "/segments") == 0


def test_a_surrogate_key_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    raw = b'{"contacts": [{"email": "a@example.com", "attributes": {"\\udc00": 1}}]}'
    response = _post(client, auth, "/contacts", raw)
    assert response.status_code == 422
    assert "'contacts[0].attributes'" in response.json()["error"]["message"]
    assert _stored(client, auth, "/contacts") == 0


def test_valid_escapes_and_numbers_still_work(client: TestClient, auth: dict[str, str]) -> None:
    """A surrogate pair is one character (an emoji); big finite numbers are numbers."""
    raw = CONTACT % b'"\\ud83d\\ude00"'
    assert _post(client, auth, "/contacts", raw).status_code == 200
    raw = b'{"contacts": [{"email": "b@example.com", "attributes": {"x": 1e300, "y": -0.5}}]}'
    assert _post(client, auth, "/contacts", raw).status_code == 200
    listed = client.get(f"{API}/contacts", headers=auth).json()["data"]
    attributes = {c["email"]: c["attributes"] for c in listed}
    assert attributes["a@example.com"] == {"x": "\U0001f600"}
    # PostgreSQL's jsonb keeps 1e300 as an exact numeric: compare as floats
    assert float(attributes["b@example.com"]["x"]) == 1e300
    assert attributes["b@example.com"]["y"] == -0.5


BLANKS = ["", "   ", "\u00a0\u00a0", "\u3000", "\u2003\u00a0\n", "\u200b", "\ufeff\u00a0"]


@pytest.mark.parametrize("blank", BLANKS)
def test_blank_names_are_refused(client: TestClient, auth: dict[str, str], blank: str) -> None:
    """Only (Unicode) whitespace or invisible characters is no name."""
    bodies = {
        "/segments": {
            "name": blank,
            "rules": {"field": "attributes.plan", "op": "equals", "value": "pro"},
        },
        "/templates": {"name": blank, "channel": "sms", "content": {"body": "Hi. Reply STOP"}},
        "/campaigns": {"name": blank, "channel": "email"},
    }
    for path, body in bodies.items():
        response = client.post(f"{API}{path}", headers=auth, json=body)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"]["message"].startswith("Invalid value for 'name': ")
        assert _stored(client, auth, path) == 0


def test_names_keep_their_inner_spaces(client: TestClient, auth: dict[str, str]) -> None:
    body = {"name": "\u00a0Spring\u00a0list ", "rules": {"field": "email", "op": "exists"}}
    response = client.post(f"{API}/segments", headers=auth, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["data"]["name"] == "Spring\u00a0list"


def _in_rule(values: list[Any]) -> dict[str, Any]:
    return {"field": "attributes.plan", "op": "in", "value": values}


def test_in_lists_are_bounded(client: TestClient, auth: dict[str, str]) -> None:
    too_long = {"name": "s", "rules": _in_rule([f"p{i}" for i in range(1001)])}
    response = client.post(f"{API}/segments", headers=auth, json=too_long)
    assert response.status_code == 422
    assert response.json()["error"]["message"] == (
        "Invalid value for 'rules.value': at most 1000 values (got 1001)"
    )
    six = [_in_rule([f"p{j}-{i}" for i in range(1000)]) for j in range(6)]
    response = client.post(
        f"{API}/segments", headers=auth, json={"name": "s", "rules": {"any": six}}
    )
    assert response.status_code == 422
    assert "more than 5000 values in all 'in' lists" in response.json()["error"]["message"]
    assert _stored(client, auth, "/segments") == 0


def test_rule_values_are_bounded_in_length(client: TestClient, auth: dict[str, str]) -> None:
    # A 60,000-character `contains` value was stored; SQLite refuses a LIKE pattern over 50,000
    # bytes, so its reach, a campaign's preflight and the console's Audiences page answered 500.
    make_audience(client, auth)
    before = _stored(client, auth, "/segments")
    for rule in (
        {"field": "email", "op": "contains", "value": "x" * 60_000},
        {"field": "attributes.plan", "op": "equals", "value": "p" * 1001},
        _in_rule(["pro", "p" * 1001]),
    ):
        response = client.post(f"{API}/segments", headers=auth, json={"name": "s", "rules": rule})
        assert response.status_code == 422, rule["op"]
        assert response.json()["error"]["message"] == (
            "Invalid value for 'rules.value': a value of at most 1000 characters"
        )
    assert _stored(client, auth, "/segments") == before
    at_most = {"field": "email", "op": "contains", "value": "x" * 1000}
    response = client.post(f"{API}/segments", headers=auth, json={"name": "s", "rules": at_most})
    assert response.status_code == 201, response.text


def test_the_largest_accepted_rules_work_on_both_databases(
    client: TestClient, auth: dict[str, str]
) -> None:
    """Five full `in` lists of attribute values: one statement, within PostgreSQL's 65,535
    bind parameters."""
    make_audience(client, auth)  # three contacts with plan "pro"
    lists = [[f"p{j}-{i}" for i in range(1000)] for j in range(5)]
    lists[4][-1] = "pro"
    rules = {"any": [_in_rule(values) for values in lists]}
    segment = client.post(f"{API}/segments", headers=auth, json={"name": "big", "rules": rules})
    assert segment.status_code == 201, segment.text
    template = make_template(client, auth)
    campaign = make_campaign(
        client, auth, segment_id=segment.json()["data"]["id"], template_id=template
    )
    result = post(client, f"/campaigns/{campaign['campaignId']}/preflight", auth)
    assert result.status_code == 200, result.text
    (reach,) = [c for c in result.json()["data"]["checks"] if c["id"] == "audience_reach"]
    assert reach == {"id": "audience_reach", "status": "passed", "message": "3 contacts reachable"}


def test_preflight_counts_one_contact_in_the_singular(
    client: TestClient, auth: dict[str, str]
) -> None:
    # "1 contacts reachable", "Rendered for 1 contacts" (found by explore3).
    segment_id = make_audience(client, auth, contacts=1)
    template = make_template(client, auth)
    campaign = make_campaign(client, auth, segment_id=segment_id, template_id=template)
    result = post(client, f"/campaigns/{campaign['campaignId']}/preflight", auth)
    assert result.status_code == 200, result.text
    messages = {c["id"]: c["message"] for c in result.json()["data"]["checks"]}
    assert messages["audience_reach"] == "1 contact reachable"
    assert messages["template_renders"] == "Rendered for 1 contact"


def test_a_campaign_at_the_documented_maximum_works_on_both_databases(
    client: TestClient, auth: dict[str, str], db: Database, settings: Settings
) -> None:
    """50 included and 50 excluded segments of 5,000 `in` values each (500,000 values): the
    reach job and preflight answer, each list bound as one parameter (PostgreSQL takes at most
    65,535 per statement, SQLite 32,766)."""
    included_id = make_audience(client, auth)  # three contacts: plan "pro", scores 0, 10, 20
    included, excluded = [], []
    for n in range(AUDIENCE_MAX * 2):
        lists: list[list[Any]] = [[f"s{n}-{j}-{i}" for i in range(1000)] for j in range(4)]
        lists.append([n * 100_000 + i + 0.5 for i in range(1000)])  # numbers
        if n == AUDIENCE_MAX:
            lists[4][-1] = 10  # excludes the contact with score 10
        rules = {
            "any": [
                _in_rule(lists[0]),
                {"field": "email", "op": "in", "value": lists[1]},
                {"field": "address.city", "op": "in", "value": lists[2]},
                {"field": "attributes.tag", "op": "in", "value": lists[3]},
                {"field": "attributes.score", "op": "in", "value": lists[4]},
            ]
        }
        response = client.post(
            f"{API}/segments", headers=auth, json={"name": f"big {n}", "rules": rules}
        )
        assert response.status_code == 201, response.text
        segment_id = response.json()["data"]["id"]
        (included if n < AUDIENCE_MAX else excluded).append(segment_id)
    included[-1] = included_id
    campaign = make_campaign(
        client,
        auth,
        template_id=make_template(client, auth),
        audience={"included": included, "excluded": excluded},
    )
    campaign_id = campaign["campaignId"]
    Worker(db=db, kinds=job_kinds(settings)).run_until_idle()
    summary = client.get(f"{API}/campaigns/{campaign_id}/summary", headers=auth).json()["data"]
    assert summary["audience"]["reach"]["status"] == "ok", summary["audience"]["reach"]
    assert summary["audience"]["reach"]["evaluatedCount"] == 2
    result = post(client, f"/campaigns/{campaign_id}/preflight", auth)
    assert result.status_code == 200, result.text
    (reach,) = [c for c in result.json()["data"]["checks"] if c["id"] == "audience_reach"]
    assert reach == {"id": "audience_reach", "status": "passed", "message": "2 contacts reachable"}


@pytest.mark.parametrize(
    ("rule", "reached"),
    [
        ({"op": "equals", "value": 10**30}, True),
        ({"op": "gte", "value": 2**63}, True),
        ({"op": "lt", "value": -(2**64)}, False),
        ({"op": "in", "value": [1, 10**30]}, True),
        ({"field": "attributes.tags", "op": "contains", "value": 10**30}, True),
    ],
)
def test_integers_beyond_64_bits_in_rules_compare_as_numbers(
    client: TestClient, auth: dict[str, str], rule: dict[str, Any], reached: bool
) -> None:
    """JSON takes any integer, the databases bind 64 bits: a rule with a larger one made
    preflight (and the reach job, and the run's start) answer 500 on both databases."""
    contact = {"email": "big@example.com", "firstName": "B", "attributes": {"n": 10**30}}
    contact["attributes"]["tags"] = [10**30]
    assert post(client, "/contacts", auth, {"contacts": [contact]}).status_code == 200
    segment = post(
        client, "/segments", auth, {"name": "Big", "rules": {"field": "attributes.n", **rule}}
    )
    assert segment.status_code == 201, segment.text
    campaign = make_campaign(
        client,
        auth,
        segment_id=segment.json()["data"]["id"],
        template_id=make_template(client, auth),
    )
    checked = post(client, f"/campaigns/{campaign['campaignId']}/preflight", auth)
    assert checked.status_code == 200, checked.text
    reach = next(c for c in checked.json()["data"]["checks"] if c["id"] == "audience_reach")
    assert (reach["status"] == "passed") is reached


@pytest.mark.parametrize(
    "rule",
    [
        {"op": "gte", "value": 10**309},
        {"op": "in", "value": [1, -(10**309)]},
        {"op": "equals", "value": 10**400},
    ],
)
def test_an_integer_no_double_holds_is_refused_in_a_rule(
    client: TestClient, auth: dict[str, str], rule: dict[str, Any]
) -> None:
    """Rule numbers compare as doubles; 10**309 has none: it was stored (201), then preflight
    answered 500 (OverflowError). Now a 422 naming the value when the segment is saved."""
    segment = post(
        client, "/segments", auth, {"name": "Huge", "rules": {"field": "attributes.n", **rule}}
    )
    assert segment.status_code == 422, segment.text
    error = segment.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "rules.value" in error["message"] and "double" in error["message"]
