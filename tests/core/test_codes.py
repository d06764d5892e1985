"""ISO 3166-1 alpha-2 codes as the wire formats take them."""

from __future__ import annotations

import pytest

from beacon.core.codes import country_code
from beacon.pixel.geo import reported_country


def test_country_code_takes_any_case() -> None:
    assert country_code("gb") == "GB"
    assert country_code("De") == "DE"


@pytest.mark.parametrize("value", ["ß", "ſe", "ıt", "ＧＢ", "İT"])
def test_country_code_refuses_letters_that_upper_case_into_a_code(value: str) -> None:
    # 'ß'.upper() is 'SS' (South Sudan), 'ſe' 'SE', 'ıt' 'IT': none of them is a code.
    with pytest.raises(ValueError, match="is not an ISO 3166-1 alpha-2 country code"):
        country_code(value)


@pytest.mark.parametrize("value", ["ß", "ſe", "ıt"])
def test_reported_country_refuses_letters_that_upper_case_into_a_code(value: str) -> None:
    with pytest.raises(ValueError, match="is not a two-letter country code"):
        reported_country(value)
