"""Activations (seed 003): the examples, every validation error, deal ids, expiry, isolation."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.activation.helpers import (
    API,
    PAGES,
    built_segment,
    classify_pages,
    run_jobs,
    upload_inventory,
)
from tests.support import in_parallel, slowed

from beacon.activation.deals import repository as deal_repository
from beacon.activation.deals.providers import BuiltInProvider
from beacon.activation.deals.service import activation_out
from beacon.activation.models import Activation
from beacon.activation.schemas import ActivationCreate, ActivationOut
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.dsps import SUPPORTED_DSPS, dsp_code
from beacon.core.timefmt import utcnow

Headers = dict[str, str]
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

# The seed's request body, verbatim (segment id substituted at run time).
SEED_REQUEST: dict[str, Any] = {
    "segment_ids": [61],
    "dsp": "The Trade Desk",
    "buyer_seat": "seat-abc123",
    "start_date": "2026-01-15",
    "end_date": "2026-02-15",
    "geo": ["US", "CA"],
    "formats": ["banner", "video"],
    "devices": ["desktop", "mobile"],
    "kpis": [
        {"metric": "ctr", "target": 0.003},
        {"metric": "viewability", "target": 0.70},
    ],
    "budget": {"amount": 50000, "currency": "USD"},
}

# The seed's "Response" object (pending), verbatim but for id, segment id and created_date.
SEED_PENDING: dict[str, Any] = {
    "id": 142,
    "segment_ids": [61],
    "dsp": "The Trade Desk",
    "buyer_seat": "seat-abc123",
    "status": "pending",
    "deal_id": None,
    "ttl_hours": None,
    "start_date": "2026-01-15",
    "end_date": "2026-02-15",
    "geo": ["US", "CA"],
    "formats": ["banner", "video"],
    "devices": ["desktop", "mobile"],
    "kpis": [
        {"metric": "ctr", "target": 0.003},
        {"metric": "viewability", "target": 0.70},
    ],
    "budget": {"amount": 50000, "currency": "USD"},
    "created_date": "2026-02-12T22:09:38Z",
    "processed_date": None,
}


# Additive fields after the seed's: when the deal stops being active, and whether it has.
NOT_ISSUED: dict[str, Any] = {"expires_date": None, "expired": False}

# The seed's "activation object" (complete), verbatim.
SEED_COMPLETE: dict[str, Any] = {
    **SEED_PENDING,
    "status": "complete",
    "deal_id": "classify-ttd-61-a8f3c",
    "ttl_hours": 720,
    "processed_date": "2026-02-12T22:41:22Z",
}


@pytest.fixture
def segment(
    client: TestClient, headers: Headers, db: Database, settings: Settings
) -> dict[str, Any]:
    classify_pages(db)
    upload_inventory(client, headers, list(PAGES))
    return built_segment(client, headers, db, settings, {"iab_categories": ["IAB19"]})


def _seed_request(segment_id: int, **changes: Any) -> dict[str, Any]:
    body = {**SEED_REQUEST, "segment_ids": [segment_id], **changes}
    return {k: v for k, v in body.items() if v is not None}


def test_seed_activation_example_pending_then_complete(
    client: TestClient, headers: Headers, db: Database, settings: Settings, segment: dict[str, Any]
) -> None:
    response = client.post(f"{API}/activations", headers=headers, json=_seed_request(segment["id"]))
    assert response.status_code == 201
    created = response.json()
    assert TIMESTAMP.match(created["created_date"])
    expected = {
        **SEED_PENDING,
        "id": created["id"],
        "segment_ids": [segment["id"]],
        "created_date": created["created_date"],
        **NOT_ISSUED,
    }
    assert created == expected
    assert list(created) == [*SEED_PENDING, *NOT_ISSUED]

    run_jobs(db, settings)
    activation = client.get(f"{API}/activations/{created['id']}", headers=headers).json()
    assert activation["status"] == "complete"
    assert re.fullmatch(rf"classify-ttd-{segment['id']}-[0-9a-f]{{5}}", activation["deal_id"])
    assert activation["ttl_hours"] == 720
    assert TIMESTAMP.match(activation["processed_date"])
    assert list(activation) == [*SEED_COMPLETE, "expires_date", "expired"]
    processed = dt.datetime.fromisoformat(activation["processed_date"])
    expires = (processed + dt.timedelta(hours=720)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert activation == {
        **SEED_COMPLETE,
        "id": created["id"],
        "segment_ids": [segment["id"]],
        "deal_id": activation["deal_id"],
        "created_date": created["created_date"],
        "processed_date": activation["processed_date"],
        "expires_date": expires,
        "expired": False,
    }
    # The seed's polling condition and the list endpoint.
    assert activation["status"] == "complete" or activation["processed_date"] is not None
    assert client.get(f"{API}/activations", headers=headers).json() == [activation]


def test_a_retried_request_still_pending_is_the_same_activation(
    client: TestClient, headers: Headers, db: Database, settings: Settings, segment: dict[str, Any]
) -> None:
    """A client that retries a POST it got no answer to must not push a second deal."""
    body = _seed_request(segment["id"])
    first = client.post(f"{API}/activations", headers=headers, json=body)
    again = client.post(f"{API}/activations", headers=headers, json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    # the same request with its lists in another order is still the same request
    reordered = {
        key: value[::-1] if isinstance(value, list) else value for key, value in body.items()
    }
    assert any(reordered[key] != body[key] for key in ("geo", "formats", "devices", "kpis"))
    retried = client.post(f"{API}/activations", headers=headers, json=reordered)
    assert retried.status_code == 200 and retried.json()["id"] == first.json()["id"]
    other_seat = client.post(
        f"{API}/activations", headers=headers, json={**body, "buyer_seat": "seat-other"}
    )
    other_budget = client.post(
        f"{API}/activations",
        headers=headers,
        json={**body, "budget": {"amount": 60000, "currency": "USD"}},
    )
    assert (other_seat.status_code, other_budget.status_code) == (201, 201)
    run_jobs(db, settings)
    # once issued, the same request is a new deal (a second flight of the same line)
    later = client.post(f"{API}/activations", headers=headers, json=body)
    assert later.status_code == 201 and later.json()["id"] != first.json()["id"]
    listed = client.get(f"{API}/activations", headers=headers).json()
    assert len(listed) == 4


def test_activation_not_found_message(client: TestClient, headers: Headers) -> None:
    response = client.get(f"{API}/activations/999", headers=headers)
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": "Activation with ID 999 not found"}
    response = client.get(f"{API}/activations/999")
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"


# (changes to the seed request, status, a part of the message naming the field)
VALIDATION_CASES: list[tuple[dict[str, Any], int, str]] = [
    (
        {"dsp": "Trade Desk"},
        422,
        "Invalid value for 'dsp': 'Trade Desk' is not a supported DSP. "
        "Did you mean: The Trade Desk?",
    ),
    ({"dsp": "the trade desk"}, 422, "Did you mean: The Trade Desk?"),
    ({"dsp": "TTD"}, 422, "Did you mean: The Trade Desk?"),
    ({"dsp": "Google DV360"}, 422, "'Google DV360' is not a supported DSP. Did you mean: DV360?"),
    ({"dsp": "AppNexus"}, 422, "Did you mean: Xandr?"),
    (
        {"dsp": "xyzzy"},
        422,
        "Invalid value for 'dsp': 'xyzzy' is not a supported DSP. The name must match one of "
        "the supported DSPs exactly, e.g. 'The Trade Desk'.",
    ),
    ({"dsp": 5}, 400, "Invalid type for 'dsp': expected string"),
    ({"buyer_seat": "  "}, 422, "Invalid value for 'buyer_seat': must not be empty"),
    (
        {"start_date": "2026-03-01"},
        422,
        "Invalid value for 'end_date': end_date 2026-02-15 is before start_date 2026-03-01",
    ),
    ({"start_date": "15/01/2026"}, 400, "Invalid type for 'start_date': expected date"),
    ({"geo": ["US", "XX"]}, 422, "Invalid value for 'geo[1]': 'XX' is not an ISO 3166-1 alpha-2"),
    # 'us' and 'US' are one country: the repeat is named in upper case, as it is stored
    ({"geo": ["US", "us"]}, 422, "Invalid value for 'geo[1]': 'US' is listed twice"),
    (
        {"geo": ["UK"]},
        422,
        "'UK' is not an ISO 3166-1 alpha-2 country code (the United Kingdom is 'GB')",
    ),
    (  # one hint for every family's country codes (it read "e.g. 'US'" here)
        {"geo": ["ZZ"]},
        422,
        "Invalid value for 'geo[0]': 'ZZ' is not an ISO 3166-1 alpha-2 country code (such as 'GB')",
    ),
    ({"geo": ["ß"]}, 422, "'ß' is not an ISO 3166-1 alpha-2 country code (such as 'GB')"),
    ({"geo": "US"}, 400, "Invalid type for 'geo': expected array"),
    ({"formats": ["banner", "print"]}, 422, "Invalid value for 'formats[1]': 'print'"),
    ({"devices": ["watch"]}, 422, "Invalid value for 'devices[0]': 'watch'"),
    (
        {"kpis": [{"metric": "reach", "target": 1}]},
        422,
        "Invalid value for 'kpis[0].metric': 'reach'",
    ),
    (
        {"kpis": [{"metric": "ctr", "target": 0.003}, {"metric": "vcr", "target": 75}]},
        422,
        "Invalid value for 'kpis[1].target': vcr is a rate and must be greater than 0 and at "
        "most 1 (got 75)",
    ),
    ({"kpis": [{"metric": "conversion", "target": 0}]}, 422, "'kpis[0].target'"),
    ({"kpis": [{"metric": "viewability", "target": 1.01}]}, 422, "'kpis[0].target'"),
    (
        {"kpis": [{"metric": "cpa", "target": -25}]},
        422,
        "Invalid value for 'kpis[0].target': cpa must be greater than 0 (got -25)",
    ),
    ({"kpis": [{"metric": "roas", "target": 0}]}, 422, "'kpis[0].target': roas must be greater"),
    (
        {"kpis": [{"metric": "ctr", "target": "0.003"}]},
        400,
        "Invalid type for 'kpis[0].target': expected number",
    ),
    (
        {"budget": {"amount": 0, "currency": "USD"}},
        422,
        "Invalid value for 'budget.amount': must be greater than 0",
    ),
    (
        {"budget": {"amount": True, "currency": "USD"}},
        400,
        "Invalid type for 'budget.amount': expected number",
    ),
    (
        {"budget": {"amount": 10, "currency": "XYZ"}},
        422,
        "Invalid value for 'budget.currency': 'XYZ' is not an ISO 4217",
    ),
    # ISO 4217 codes that are no money: testing, "no currency", metals, units of account
    *[
        (
            {"budget": {"amount": 10, "currency": code}},
            422,
            f"Invalid value for 'budget.currency': '{code}' (",
        )
        for code in ("XXX", "XTS", "XAU", "XAG", "XPT", "XPD", "XDR", "XBA", "XBD", "XSU", "XUA")
    ],
    # ISO 4217 fund codes: indexed units and settlement variants, no budget's currency
    *[
        (
            {"budget": {"amount": 10, "currency": code}},
            422,
            f"Invalid value for 'budget.currency': '{code}' (",
        )
        for code in ("USN", "CLF", "COU", "MXV", "UYI", "UYW", "BOV", "CHE", "CHW")
    ],
    ({"budget": {"amount": 10}}, 400, "Missing required parameter 'budget.currency'"),
    # a repeat is refused at its second occurrence, as segment_ids are
    (
        {"geo": ["US", "CA", "US"]},
        422,
        "Invalid value for 'geo[2]': 'US' is listed twice (first at geo[0])",
    ),
    ({"formats": ["video", "video"]}, 422, "Invalid value for 'formats[1]': 'video' is listed"),
    ({"devices": ["ctv", "ctv"]}, 422, "Invalid value for 'devices[1]': 'ctv' is listed twice"),
    (  # two targets for one metric: which one would the deal be tuned for?
        {"kpis": [{"metric": "ctr", "target": 0.003}, {"metric": "ctr", "target": 0.01}]},
        422,
        "Invalid value for 'kpis[1].metric': 'ctr' is listed twice (first at kpis[0].metric)",
    ),
    ({"segment_ids": []}, 422, "'segment_ids'"),
    ({"segment_ids": [61, 61]}, 422, "Invalid value for 'segment_ids[1]': 61 is listed twice"),
    ({"segment_ids": ["61"]}, 400, "Invalid type for 'segment_ids[0]': expected integer"),
    ({"segment_ids": [2**31]}, 422, "Invalid value for 'segment_ids[0]'"),
]


def test_validation_errors_name_the_field(
    client: TestClient, headers: Headers, segment: dict[str, Any]
) -> None:
    # One segment serves every case: a case per test would rebuild it each time.
    for changes, status, message in VALIDATION_CASES:
        response = client.post(
            f"{API}/activations", headers=headers, json=_seed_request(segment["id"], **changes)
        )
        assert response.status_code == status, (changes, response.text)
        assert response.json()["error"] == (
            "validation_error" if status == 422 else "bad_request"
        ), changes
        assert message in response.json()["message"], (changes, response.json())
    assert client.get(f"{API}/activations", headers=headers).json() == []


def test_money_codes_starting_with_x_are_currencies() -> None:
    # Only the X codes that are no money are refused: the CFA and East Caribbean francs, the
    # CFP franc and the Caribbean guilder are what budgets in those markets are spent in; so
    # are the currencies beside ISO 4217's fund codes (CLF/CLP, CHE/CHF, UYI/UYU, USN/USD).
    for code in ("XOF", "XAF", "XCD", "XPF", "XCG", "EUR", "JPY", "CLP", "CHF", "UYU", "USD"):
        body = {**SEED_REQUEST, "budget": {"amount": 10, "currency": code}}
        assert ActivationCreate.model_validate(body).budget is not None


def test_a_lower_case_country_is_taken_and_stored_in_upper_case(
    client: TestClient, headers: Headers, segment: dict[str, Any]
) -> None:
    # Measure and Orchestrate take 'gb' (read as 'GB'); Activate refused it with a 422.
    request = _seed_request(segment["id"], geo=["gb", "Us"])
    response = client.post(f"{API}/activations", headers=headers, json=request)
    assert response.status_code == 201, response.text
    assert response.json()["geo"] == ["GB", "US"]
    stored = client.get(f"{API}/activations/{response.json()['id']}", headers=headers).json()
    assert stored["geo"] == ["GB", "US"]


def test_a_flight_longer_than_a_report_may_cover_is_accepted(
    client: TestClient, headers: Headers, segment: dict[str, Any]
) -> None:
    # Reports stop at 366 days; a flight is not a report and may run longer.
    request = _seed_request(segment["id"], start_date="2026-01-01", end_date="2027-12-31")
    response = client.post(f"{API}/activations", headers=headers, json=request)
    assert response.status_code == 201, response.text
    assert (response.json()["start_date"], response.json()["end_date"]) == (
        "2026-01-01",
        "2027-12-31",
    )


def test_seed_kpis_every_dsp_and_absent_optional_fields(
    client: TestClient, headers: Headers, segment: dict[str, Any]
) -> None:
    # The seed's KPI table, with its example targets.
    kpis = [
        {"metric": "ctr", "target": 0.003},
        {"metric": "conversion", "target": 0.01},
        {"metric": "viewability", "target": 0.70},
        {"metric": "vcr", "target": 0.75},
        {"metric": "cpa", "target": 25.00},
        {"metric": "roas", "target": 4.0},
    ]
    response = client.post(
        f"{API}/activations", headers=headers, json=_seed_request(segment["id"], kpis=kpis)
    )
    assert response.status_code == 201, response.text
    assert response.json()["kpis"] == kpis
    # Optional fields that were not sent come back as null.
    body = {"segment_ids": [segment["id"]], "dsp": "Amazon DSP", "buyer_seat": "seat-1"}
    created = client.post(f"{API}/activations", headers=headers, json=body).json()
    for field in ("start_date", "end_date", "geo", "formats", "devices", "kpis", "budget"):
        assert created[field] is None
    for name in SUPPORTED_DSPS:
        ActivationCreate.model_validate({"segment_ids": [1], "dsp": name, "buyer_seat": "s"})


def test_huge_whole_number_targets_and_budgets_are_stored_and_read_back(
    client: TestClient, headers: Headers, segment: dict[str, Any]
) -> None:
    """A whole float past 64 bits (found by the fuzzer: a 500) stays a float on the wire."""
    kpis = [{"metric": "roas", "target": 9.79e306}, {"metric": "cpa", "target": 2.0**53}]
    budget = {"amount": 3.3e16, "currency": "USD"}
    body = {**_seed_request(segment["id"], kpis=kpis), "budget": budget}
    response = client.post(f"{API}/activations", headers=headers, json=body)
    assert response.status_code == 201, response.text
    read = client.get(f"{API}/activations/{response.json()['id']}", headers=headers).json()
    assert read["kpis"] == [
        {"metric": "roas", "target": 9.79e306},
        {"metric": "cpa", "target": 2**53},
    ]
    assert read["budget"] == budget


def test_segments_must_exist_in_the_account_and_be_complete_and_accounts_are_isolated(
    client: TestClient, headers: Headers, segment: dict[str, Any], key_for: Callable[[str], str]
) -> None:
    pending = client.post(
        f"{API}/segments", headers=headers, json={"name": "p", "rules": {}}
    ).json()
    response = client.post(
        f"{API}/activations",
        headers=headers,
        json=_seed_request(segment["id"], segment_ids=[segment["id"], pending["id"]]),
    )
    assert response.status_code == 422
    assert response.json()["message"] == (
        f"Invalid value for 'segment_ids': segment {pending['id']} is not complete (status: pending)"
    )
    response = client.post(
        f"{API}/activations", headers=headers, json=_seed_request(segment["id"], segment_ids=[999])
    )
    assert response.json()["message"] == "Invalid value for 'segment_ids': segment 999 not found"
    other = {"X-API-Key": key_for("other")}
    response = client.post(f"{API}/activations", headers=other, json=_seed_request(segment["id"]))
    assert response.status_code == 422
    assert (
        response.json()["message"]
        == f"Invalid value for 'segment_ids': segment {segment['id']} not found"
    )
    # Activations are isolated like segments.
    created = client.post(
        f"{API}/activations", headers=headers, json=_seed_request(segment["id"])
    ).json()
    response = client.get(f"{API}/activations/{created['id']}", headers=other)
    assert response.status_code == 404
    assert client.get(f"{API}/activations", headers=other).json() == []


def test_malformed_requests_are_400(client: TestClient, headers: Headers) -> None:
    response = client.post(f"{API}/activations", headers=headers, json={"dsp": "Adform"})
    assert response.status_code == 400
    assert response.json()["message"] == "Missing required parameter 'segment_ids'"
    response = client.post(
        f"{API}/activations", headers=headers, json={**SEED_REQUEST, "colour": "red"}
    )
    assert response.json()["message"] == "Unknown parameter 'colour'"


def test_every_supported_dsp_has_a_deal_id_shape() -> None:
    provider = BuiltInProvider(prefix="classify")
    assert len(SUPPORTED_DSPS) == 89
    ids = {provider.new_deal_id(dsp=name, segment_ids=[61, 62]) for name in SUPPORTED_DSPS}
    assert len(ids) == 89
    for name in SUPPORTED_DSPS:
        deal = provider.new_deal_id(dsp=name, segment_ids=[61])
        assert re.fullmatch(rf"classify-{re.escape(dsp_code(name))}-61-[0-9a-f]{{5}}", deal)


def test_prefix_and_ttl_are_configurable_and_multi_segment_ids_are_joined(
    client: TestClient, headers: Headers, db: Database, settings: Settings, segment: dict[str, Any]
) -> None:
    second = built_segment(client, headers, db, settings, {"keywords": ["pasta"]}, name="Food")
    body = {"segment_ids": [segment["id"], second["id"]], "dsp": "DV360", "buyer_seat": "s"}
    created = client.post(f"{API}/activations", headers=headers, json=body).json()
    # A deal includes a set of segments: the same ones in another order are the pending request,
    # answered as it was first sent (docs/activate.md, "Same request, same activation").
    reordered = {**body, "segment_ids": body["segment_ids"][::-1]}
    retried = client.post(f"{API}/activations", headers=headers, json=reordered)
    assert retried.status_code == 200 and retried.json() == created
    custom = settings.model_copy(update={"deal_id_prefix": "acme", "deal_ttl_hours": 48})
    run_jobs(db, custom)
    activation = client.get(f"{API}/activations/{created['id']}", headers=headers).json()
    assert re.fullmatch(
        rf"acme-dv360-{segment['id']}-{second['id']}-[0-9a-f]{{5}}", activation["deal_id"]
    )
    assert activation["ttl_hours"] == 48


def test_a_deal_past_its_ttl_stays_complete_and_reads_expired(
    client: TestClient, headers: Headers, db: Database, settings: Settings, segment: dict[str, Any]
) -> None:
    created = client.post(
        f"{API}/activations", headers=headers, json=_seed_request(segment["id"])
    ).json()
    assert (created["expires_date"], created["expired"]) == (None, False)
    run_jobs(db, settings)
    processed = utcnow().replace(microsecond=0) - dt.timedelta(hours=719)
    with db.transaction() as session:
        row = session.get(Activation, created["id"])
        assert row is not None and row.processed_date is not None
        row.processed_date = processed
    live = client.get(f"{API}/activations/{created['id']}", headers=headers).json()
    assert (live["status"], live["expired"]) == ("complete", False)
    expected = (processed + dt.timedelta(hours=720)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert live["expires_date"] == expected
    with db.transaction() as session:
        row = session.get(Activation, created["id"])
        assert row is not None
        row.processed_date = utcnow() - dt.timedelta(hours=720, seconds=5)
    # The seed documents four states; a client polling for "complete" must still see it.
    past = client.get(f"{API}/activations/{created['id']}", headers=headers).json()
    assert (past["status"], past["expired"]) == ("complete", True)
    assert past["deal_id"] is not None and past["ttl_hours"] == 720
    listed = client.get(f"{API}/activations", headers=headers).json()
    assert [(a["status"], a["expired"]) for a in listed] == [("complete", True)]


def test_activation_fails_when_its_segment_is_rebuilding(
    client: TestClient, headers: Headers, db: Database, settings: Settings, segment: dict[str, Any]
) -> None:
    created = client.post(
        f"{API}/activations", headers=headers, json=_seed_request(segment["id"])
    ).json()
    client.put(
        f"{API}/segments/{segment['id']}", headers=headers, json={"rules": {"keywords": ["x"]}}
    )
    from beacon.activation.tasks import job_kinds
    from beacon.core.worker import Worker

    deal_kind = [k for k in job_kinds(settings) if k.name == "activation-deal"]
    Worker(db=db, kinds=deal_kind).run_until_idle()
    failed = client.get(f"{API}/activations/{created['id']}", headers=headers).json()
    assert failed["status"] == "failed" and failed["deal_id"] is None
    assert failed["error"] == f"segment {segment['id']} is not complete (status: pending)"


def test_a_segment_matching_no_urls_is_not_activated(
    client: TestClient, headers: Headers, db: Database, settings: Settings, segment: dict[str, Any]
) -> None:
    empty = built_segment(client, headers, db, settings, {"iab_categories": ["IAB20"]}, name="e")
    assert empty["url_count"] == 0
    for segment_ids in ([empty["id"]], [segment["id"], empty["id"]]):
        response = client.post(
            f"{API}/activations",
            headers=headers,
            json=_seed_request(segment["id"], segment_ids=segment_ids),
        )
        assert response.status_code == 422
        assert response.json() == {
            "error": "validation_error",
            "message": f"Invalid value for 'segment_ids': segment {empty['id']} matches 0 URLs, "
            "so a deal for it would reach nothing; add inventory or widen its rules, then "
            "activate it",
        }
    assert client.get(f"{API}/activations", headers=headers).json() == []
    with db.transaction() as session:
        assert session.query(Activation).count() == 0


def test_parallel_identical_requests_make_one_activation(
    client: TestClient,
    headers: Headers,
    db: Database,
    segment: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client that times out and retries while its first POST is still running: the requests
    overlap, and still one activation (one deal) is made; the others answer it with 200."""
    slowed(monkeypatch, deal_repository, "pending_like")
    body = _seed_request(segment["id"], buyer_seat="seat-parallel")

    responses = in_parallel(
        lambda: client.post(f"{API}/activations", headers=headers, json=body), n=4
    )

    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201], [
        r.text for r in responses
    ]
    assert len({r.json()["id"] for r in responses}) == 1
    with db.transaction() as session:
        seats = session.scalars(select(Activation.buyer_seat)).all()
    assert seats.count("seat-parallel") == 1


def test_a_deal_over_many_segments_has_an_id_deliveries_take(
    client: TestClient, headers: Headers, db: Database, settings: Settings, segment: dict[str, Any]
) -> None:
    # Segment ids joined by '-' made a deal over 100 segments ~300 characters long: PostgreSQL
    # refused to store it (the column holds 200) and the activation never completed; SQLite
    # stored it, and then no delivery row could name it (deal_id is at most 200 characters).
    ids = [segment["id"]]
    for n in range(99):
        made = client.post(f"{API}/segments", headers=headers, json={"name": f"s{n}", "rules": {}})
        ids.append(made.json()["id"])
    run_jobs(db, settings)
    body = {"segment_ids": ids, "dsp": "Zemanta/Outbrain", "buyer_seat": "seat-many"}
    created = client.post(f"{API}/activations", headers=headers, json=body)
    assert created.status_code == 201, created.text
    run_jobs(db, settings)
    activation = client.get(f"{API}/activations/{created.json()['id']}", headers=headers).json()
    assert activation["status"] == "complete", activation
    deal = activation["deal_id"]
    assert len(deal) <= 200
    assert re.fullmatch(rf"classify-zemanta-{ids[0]}-{ids[1]}-[0-9-]*plus\d+-[0-9a-f]{{5}}", deal)
    row = {"date": "2026-01-15", "deal_id": deal, "device": "desktop", "format": "banner",
           "domain": "nytimes.com", "geo": "US", "impressions": 10, "clicks": 1, "spend": 0.5}  # fmt: skip
    stored = client.post(f"{API}/deliveries", headers=headers, json={"rows": [row]})
    assert stored.status_code == 201, stored.text


def test_deal_ids_list_the_segments_that_fit_and_count_the_others() -> None:
    provider = BuiltInProvider(prefix="classify")
    ids = list(range(2_147_483_547, 2_147_483_647))  # 100 of the largest ids
    deal = provider.new_deal_id(dsp="Zemanta/Outbrain", segment_ids=ids)
    assert len(deal) <= 200
    shown = deal.removeprefix("classify-zemanta-").rsplit("-", 2)
    listed = shown[0].split("-")
    assert listed == [str(i) for i in ids[: len(listed)]]
    assert shown[1] == f"plus{len(ids) - len(listed)}"
    few = provider.new_deal_id(dsp="DV360", segment_ids=[1, 2])
    assert re.fullmatch(r"classify-dv360-1-2-[0-9a-f]{5}", few)


def test_an_activation_made_before_a_currency_was_refused_stays_readable(
    client: TestClient, headers: Headers, segment: dict[str, Any], db: Database
) -> None:
    # Fund codes (USN, CLF, ...) were accepted until they were refused: reading such an
    # activation validated its stored budget again, and its GET and the account's list were 500s.
    request = _seed_request(segment["id"])
    made = client.post(f"{API}/activations", headers=headers, json=request)
    assert made.status_code == 201, made.text
    with db.transaction() as session:
        stored = session.scalars(select(Activation)).one()
        stored.budget = '{"amount": 50000, "currency": "USN"}'
    one = client.get(f"{API}/activations/{made.json()['id']}", headers=headers)
    assert one.status_code == 200, one.text
    assert one.json()["budget"] == {"amount": 50000, "currency": "USN"}
    listed = client.get(f"{API}/activations", headers=headers)
    assert listed.status_code == 200, listed.text
    assert [a["budget"]["currency"] for a in listed.json()] == ["USN"]


def test_a_since_refused_currency_reads_back_exactly_in_the_get_and_the_list(
    client: TestClient, headers: Headers, segment: dict[str, Any], db: Database
) -> None:
    # The whole body, field by field and in order, as the seed's pending response with the
    # stored budget: only the budget differs from an activation made today.
    made = client.post(f"{API}/activations", headers=headers, json=_seed_request(segment["id"]))
    assert made.status_code == 201, made.text
    created = made.json()
    with db.transaction() as session:
        stored = session.scalars(select(Activation)).one()
        stored.budget = '{"amount": 1250.5, "currency": "USN"}'
        stored.kpis = '[{"metric": "cpa", "target": 12}]'
    expected = {
        **SEED_PENDING,
        "id": created["id"],
        "segment_ids": [segment["id"]],
        "kpis": [{"metric": "cpa", "target": 12}],
        "budget": {"amount": 1250.5, "currency": "USN"},
        "created_date": created["created_date"],
        **NOT_ISSUED,
    }
    one = client.get(f"{API}/activations/{created['id']}", headers=headers)
    assert one.status_code == 200, one.text
    assert one.json() == expected
    assert list(one.json()) == list(expected)
    assert one.content.count(b'"amount":1250.5,"currency":"USN"') == 1
    listed = client.get(f"{API}/activations", headers=headers)
    assert listed.status_code == 200, listed.text
    assert listed.json() == [expected]


def test_the_activation_response_model_describes_what_is_stored_without_validating_it(
    client: TestClient, headers: Headers, segment: dict[str, Any], db: Database
) -> None:
    # Output models only describe: a body read back through ActivationOut is the same body,
    # whatever input rule came after it was stored (the fund code USN is refused since).
    made = client.post(f"{API}/activations", headers=headers, json=_seed_request(segment["id"]))
    with db.transaction() as session:
        stored = session.scalars(select(Activation)).one()
        stored.budget = '{"amount": 50000, "currency": "USN"}'
        body = activation_out(stored).model_dump(mode="json")
    assert body["id"] == made.json()["id"]
    assert body["budget"] == {"amount": 50000, "currency": "USN"}
    assert ActivationOut.model_validate(body).model_dump(mode="json") == body


def test_a_kpi_metric_dropped_later_still_reads_back(
    client: TestClient, headers: Headers, segment: dict[str, Any], db: Database
) -> None:
    """A metric no longer accepted (here one never was, ``cpm``) must not make the activation,
    or the account's whole list, unreadable."""
    made = client.post(f"{API}/activations", headers=headers, json=_seed_request(segment["id"]))
    with db.transaction() as session:
        session.scalars(select(Activation)).one().kpis = '[{"metric": "cpm", "target": 2}]'
    one = client.get(f"{API}/activations/{made.json()['id']}", headers=headers)
    assert one.status_code == 200, one.text
    assert one.json()["kpis"] == [{"metric": "cpm", "target": 2}]
    listed = client.get(f"{API}/activations", headers=headers)
    assert [a["kpis"] for a in listed.json()] == [[{"metric": "cpm", "target": 2}]]


def test_whole_numbers_are_written_as_sent(
    client: TestClient, headers: Headers, segment: dict[str, Any]
) -> None:
    """``50000`` stays ``50000`` on the wire, not ``50000.0`` (equal as Python numbers, so only
    the bytes show it)."""
    made = client.post(f"{API}/activations", headers=headers, json=_seed_request(segment["id"]))
    got = client.get(f"{API}/activations/{made.json()['id']}", headers=headers)
    for response in (made, got):
        assert b'"budget":{"amount":50000,"currency":"USD"}' in response.content
        assert b'{"metric":"viewability","target":0.7}' in response.content
