import re

import pytest

from beacon.core.dsps import (
    DSP_CODES,
    SUPPORTED_DSPS,
    dsp_code,
    is_supported_dsp,
    suggest_dsps,
)


def test_exactly_the_documented_dsps_in_order() -> None:
    # The document announces "93 supported DSPs"; its table lists 89 names.
    assert len(SUPPORTED_DSPS) == 89
    assert len(set(SUPPORTED_DSPS)) == 89
    assert SUPPORTED_DSPS[0] == "Aarki DSP"
    assert SUPPORTED_DSPS[-1] == "Zeta DSP"
    # The document lists them alphabetically, ignoring case.
    assert list(SUPPORTED_DSPS) == sorted(SUPPORTED_DSPS, key=str.lower)


def test_codes_are_unique_short_and_lowercase() -> None:
    codes = [DSP_CODES[name] for name in SUPPORTED_DSPS]
    assert len(set(codes)) == len(SUPPORTED_DSPS)
    assert all(re.fullmatch(r"[a-z0-9]{2,8}", code) for code in codes)


@pytest.mark.parametrize(
    ("name", "code"),
    [("The Trade Desk", "ttd"), ("DV360", "dv360"), ("Xandr", "xandr"), ("Amazon DSP", "amzn")],
)
def test_well_known_codes(name: str, code: str) -> None:
    assert dsp_code(name) == code


def test_is_supported_is_an_exact_match() -> None:
    assert is_supported_dsp("The Trade Desk")
    assert is_supported_dsp("Active Agent/Adition DSP")
    assert not is_supported_dsp("the trade desk")
    assert not is_supported_dsp("The Trade Desk ")
    assert not is_supported_dsp("Google Ad Manager")


def test_dsp_code_of_an_unknown_name_suggests_the_right_one() -> None:
    with pytest.raises(ValueError, match="Did you mean: The Trade Desk"):
        dsp_code("Trade Desk")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("the trade desk", "The Trade Desk"),
        ("Trade Desk", "The Trade Desk"),
        ("amazon", "Amazon DSP"),
        ("dv 360", "DV360"),
        ("Stackadapt", "StackAdapt"),
        ("Xander", "Xandr"),
    ],
)
def test_suggestions_put_the_intended_dsp_first(query: str, expected: str) -> None:
    suggestions = suggest_dsps(query)
    assert suggestions[0] == expected
    assert len(suggestions) <= 3


def test_suggestions_for_nonsense_and_limits() -> None:
    assert suggest_dsps("zzzzqqqq") == []
    assert suggest_dsps("") == []
    assert len(suggest_dsps("DSP", n=5)) == 5
