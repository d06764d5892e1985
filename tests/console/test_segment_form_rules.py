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
