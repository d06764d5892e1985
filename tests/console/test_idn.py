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


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("xn--wgv71a119e.jp", "日本語.jp"),
        ("xn--eckwd4c7cu47r2wf.jp", "ドメイン名例.jp"),  # Katakana beside Han
        ("xn--3e0b707e.kr", "한국.kr"),
        ("xn--hxajbheg2az3al.gr", "παράδειγμα.gr"),
        ("xn--e1afmkfd.xn--p1ai", "пример.рф"),
        # Cyrillic 'а' among Latin letters reads as apple.com: it stays as stored.
        ("xn--pple-43d.com", "xn--pple-43d.com"),
        ("www.xn--pple-43d.xn--bcher-kva.de", "www.xn--pple-43d.bücher.de"),
    ],
)
def test_a_label_mixing_scripts_stays_in_its_ascii_form(stored: str, shown: str) -> None:
    assert unicode_domain(stored) == shown


def test_the_host_of_a_url_is_shown_in_unicode_not_its_user_info() -> None:
    # netloc.replace(host, ...) replaced the first match, which was in the user info.
    assert unicode_url("http://xn--bcher-kva.de@xn--bcher-kva.de/a") == (
        "http://xn--bcher-kva.de@bücher.de/a"
    )
    assert unicode_url("http://XN--BCHER-KVA.DE:8080/") == "http://bücher.de:8080/"
