"""The segment builder's fields → the API's rules object (no server needed)."""

from __future__ import annotations

from starlette.datastructures import FormData

from beacon.activation.schemas import SegmentRules
from beacon.console.pages import segments as page


def test_highest_brand_safety_risk_becomes_brand_safety_max_risk() -> None:
    values = page._values(FormData([("iab_categories", "IAB17"), ("brand_safety_max_risk", "low")]))
    rules = page._rules(values)
    assert rules == {"iab_categories": ["IAB17"], "brand_safety": {"max_risk": "low"}}
    assert SegmentRules.model_validate(rules).brand_safety is not None
    # "Any risk" (empty) leaves the key out
    assert "brand_safety" not in page._rules(page._values(FormData([("iab_categories", "IAB17")])))
    assert page._values(None)["brand_safety_max_risk"] == ""


def test_an_internationalised_domain_typed_in_unicode_is_the_stored_ascii_one() -> None:
    # The inventory stores xn--bcher-kva.de: a rule of "bücher.de" matched none of its URLs.
    form = FormData([("domains", "Bücher.de, bbc.co.uk"), ("exclude_domains", "shop.bücher.de")])
    rules = page._rules(page._values(form))
    assert rules["domains"] == ["xn--bcher-kva.de", "bbc.co.uk"]
    assert rules["exclude"] == {"domains": ["shop.xn--bcher-kva.de"]}
