"""Money in the console: an amount that carries a currency is shown with that currency's minor
units and thousands separators (USD 2 decimals, JPY none, BHD 3), never rounded away from what
the API stores."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.activation.helpers import PAGES, built_segment, classify_pages, upload_inventory
from tests.console.in_process import member, sign_in

from beacon.console.web import templates
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.permissions import Role


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (50000.55, "USD", "50,000.55 USD"),
        (50000, "USD", "50,000.00 USD"),
        (0.5, "USD", "0.50 USD"),
        (1000, "JPY", "1,000 JPY"),
        (1234567.0, "JPY", "1,234,567 JPY"),
        (1250.5, "BHD", "1,250.500 BHD"),
        (12.345, "BHD", "12.345 BHD"),
        # More decimals than the currency has: all of them, as the API returns the value (a
        # rounded 10.01 or 10.00 would misstate what the DSP is asked for).
        (10.005, "USD", "10.005 USD"),
        (1000.5, "JPY", "1,000.5 JPY"),
        (2.0**53, "USD", "9,007,199,254,740,992.00 USD"),
        # No currency (a cpa target without a budget): two decimals, no code.
        (25, None, "25.00"),
        (None, "USD", "—"),
    ],
)
def test_money_shows_the_currencys_minor_units_and_never_rounds(
    amount: float | None, currency: str | None, shown: str
) -> None:
    assert templates.filters["money"](amount, currency) == shown


def _activation(client: TestClient, headers: dict[str, str], segment_id: int, **extra: Any) -> int:
    body = {"segment_ids": [segment_id], "dsp": "Amazon DSP", "buyer_seat": "seat", **extra}
    made = client.post("/v1/clsfy/activations", headers=headers, json=body)
    assert made.status_code in (200, 201, 202), made.text
    return int(made.json()["id"])


def _request_list(html: str) -> dict[str, str]:
    section = re.search(r'<section class="card" aria-labelledby="request-title">(.*?)</section>',
                        html, re.S)  # fmt: skip
    assert section is not None
    pairs = re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", section.group(1), re.S)
    return {term: re.sub(r"<[^>]+>", "", value) for term, value in pairs}


@pytest.mark.parametrize(
    ("budget", "cpa", "shown_budget", "shown_kpis"),
    [
        (
            {"amount": 50000.55, "currency": "USD"},
            25,
            "50,000.55 USD",
            "ctr 0.003, cpa 25.00 USD",
        ),
        ({"amount": 1000, "currency": "JPY"}, 3500, "1,000 JPY", "ctr 0.003, cpa 3,500 JPY"),
        (
            {"amount": 1250.5, "currency": "BHD"},
            9.125,
            "1,250.500 BHD",
            "ctr 0.003, cpa 9.125 BHD",
        ),
        ({"amount": 10.005, "currency": "USD"}, 0.125, "10.005 USD", "ctr 0.003, cpa 0.125 USD"),
        (None, 25, "—", "ctr 0.003, cpa 25.00"),
    ],
)
def test_the_activation_page_shows_its_budget_and_cpa_in_the_currencys_minor_units(
    client: TestClient,
    headers: dict[str, str],
    db: Database,
    settings: Settings,
    budget: dict[str, Any] | None,
    cpa: float,
    shown_budget: str,
    shown_kpis: str,
) -> None:
    classify_pages(db)
    upload_inventory(client, headers, list(PAGES))
    segment = built_segment(client, headers, db, settings, {"iab_categories": ["IAB19"]})
    kpis = [{"metric": "ctr", "target": 0.003}, {"metric": "cpa", "target": cpa}]
    extra: dict[str, Any] = {"kpis": kpis} | ({"budget": budget} if budget else {})
    made = _activation(client, headers, segment["id"], **extra)
    sign_in(client, member(db, "viewer@acme.example.com", Role.viewer))

    page = client.get(f"/app/activate/activations/{made}")

    assert page.status_code == 200
    shown = _request_list(page.text)
    assert (shown["Budget"], shown["KPIs"]) == (shown_budget, shown_kpis)
    # the API keeps the exact value it was sent
    kept = client.get(f"/v1/clsfy/activations/{made}", headers=headers).json()
    assert kept["budget"] == budget
