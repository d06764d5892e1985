"""The two spellings of an internationalised domain: the stored ASCII (IDNA) one and the
Unicode one people read and type."""

from __future__ import annotations

import pytest

from beacon.console.idn import ascii_domain, unicode_domain, unicode_url


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("xn--bcher-kva.de", "bücher.de"),
        ("shop.xn--bcher-kva.de", "shop.bücher.de"),
        ("a_b.xn--bcher-kva.de", "a_b.bücher.de"),  # a label IDNA refuses stays, not the name
        ("xn--zz.de", "xn--zz.de"),  # no valid IDNA label: shown as stored
        ("nytimes.com", "nytimes.com"),
        ("", ""),
        (None, ""),
    ],
)
def test_a_stored_domain_shows_in_unicode(stored: str | None, shown: str) -> None:
    assert unicode_domain(stored) == shown


@pytest.mark.parametrize(
    "typed", ["bücher.de", "Bücher.DE", " xn--bcher-kva.de ", "XN--BCHER-KVA.de"]
)
def test_a_typed_domain_in_either_form_is_the_stored_one(typed: str) -> None:
    assert ascii_domain(typed) == "xn--bcher-kva.de"


def test_a_domain_idna_refuses_matches_nothing_rather_than_failing() -> None:
    assert ascii_domain("a..ü") == "a..ü"


def test_a_stored_url_shows_its_host_in_unicode_and_the_rest_as_stored() -> None:
    assert unicode_url("https://www.xn--bcher-kva.de:8443/xn--a?q=xn--b") == (
        "https://www.bücher.de:8443/xn--a?q=xn--b"
    )
    assert unicode_url("https://example.com/xn--a") == "https://example.com/xn--a"
    assert unicode_url("https://[xn--a/x") == "https://[xn--a/x"  # not a URL: as stored
    assert unicode_url(None) == ""
