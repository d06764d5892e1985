"""The segment builder's fields → the API's rules object (no server needed)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from starlette.datastructures import FormData

from beacon.activation.schemas import SegmentRules
from beacon.activation.segments.rules import SegmentMatcher
from beacon.console.pages import segments as page


def test_highest_brand_safety_risk_becomes_brand_safety_max_risk() -> None:
    values = page._values(FormData([("iab_categories", "IAB17"), ("brand_safety_max_risk", "low")]))
    rules = page._rules(values)
    assert rules == {"iab_categories": ["IAB17"], "brand_safety": {"max_risk": "low"}}
    assert SegmentRules.model_validate(rules).brand_safety is not None
    # "Any risk" (empty) leaves the key out
    assert "brand_safety" not in page._rules(page._values(FormData([("iab_categories", "IAB17")])))
    assert page._values(None)["brand_safety_max_risk"] == ""


def test_an_internationalised_domain_typed_in_unicode_matches_the_stored_ascii_one() -> None:
    # The inventory stores xn--bcher-kva.de: a rule of "bücher.de" matched none of its URLs.
    # The rule keeps what was typed (as the API's does); matching reads either form.
    # A subdomain reads as its registrable domain, the form the inventory stores.
    form = FormData([("domains", "Bücher.de, bbc.co.uk"), ("exclude_domains", "shop.bäcker.de")])
    rules = page._rules(page._values(form))
    assert rules["domains"] == ["Bücher.de", "bbc.co.uk"]
    matcher = SegmentMatcher.from_rules(rules)
    page_of = {"iab_categories": [], "keywords": [], "entities": []}
    assert matcher.matches(page_of, "xn--bcher-kva.de")
    assert not matcher.matches(page_of, "example.de")
    blocked = SegmentMatcher.from_rules({"exclude": rules["exclude"]})
    assert not blocked.matches(page_of, "xn--bcker-gra.de")
    assert blocked.matches(page_of, "xn--bcher-kva.de")


def test_a_confidence_out_of_range_reads_as_the_api_says_it() -> None:
    # The builder showed pydantic's "Input should be less than or equal to 1" where the API
    # (and every other form) says "must be at most 1.0".
    rules = page._rules(
        page._values(FormData([("iab_categories", "IAB17"), ("min_confidence", "1.5")]))
    )
    with pytest.raises(ValidationError) as refused:
        SegmentRules.model_validate(rules)
    assert page._rule_errors(refused.value) == {
        "min_confidence": "Min confidence: must be at most 1.0"
    }
