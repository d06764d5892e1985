"""Internationalised domain names in the console: Beacon stores hosts and domains in their ASCII
(IDNA, ``xn--``) form, the form the fetcher asks DNS for; people read and type the Unicode one.
Pages show ``unicode_domain`` / ``unicode_url`` (the ``domain`` and ``url`` template filters),
and a domain typed in either form filters as ``beacon.core.urls.ascii_domain`` stores it
(segment rules match the same way)."""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit, urlunsplit

import idna

from beacon.core.urls import ascii_domain

__all__ = ["ascii_domain", "unicode_domain", "unicode_url"]

_ACE = "xn--"


def unicode_domain(value: str | None) -> str:
    """A stored domain or host as people read it: 'xn--bcher-kva.de' -> 'bücher.de'.

    Label by label, so that a label IDNA refuses (a host with '_', a malformed 'xn--') stays
    as it is stored rather than hiding the whole name."""
    if not value or _ACE not in value.lower():
        return value or ""
    return ".".join(_unicode_label(label) for label in value.split("."))


def _unicode_label(label: str) -> str:
    if not label.lower().startswith(_ACE):
        return label
    try:
        shown = idna.decode(label)
    except (idna.IDNAError, UnicodeError):
        return label
    # A label mixing scripts ('аpple', Cyrillic 'а' among Latin letters) reads as another
    # name: it stays in its xn-- form, as browsers show it (their mixed-script rule).
    return shown if _one_script(shown) else label


# Script combinations a browser shows in Unicode within one label (Japanese, Chinese and
# Korean are written with Han beside their own scripts, and with Latin letters).
_ALLOWED_MIXES = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)
_SCRIPT_NAMES = {"CJK": "HAN", "KATAKANA-HIRAGANA": "KATAKANA"}


def _one_script(label: str) -> bool:
    scripts = set()
    for char in label:
        if char.isalpha():
            first = unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]
            scripts.add(_SCRIPT_NAMES.get(first, first))
    return len(scripts) <= 1 or any(scripts <= mix for mix in _ALLOWED_MIXES)


def unicode_url(value: str | None) -> str:
    """A stored URL with its host as people read it (path and query as stored)."""
    if not value or _ACE not in value.lower():
        return value or ""
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return value
    if not host or _ACE not in host:
        return value
    # The host is what follows the last '@' (user info may spell anything, a host included).
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not hostport.lower().startswith(host):
        return value
    netloc = userinfo + at + unicode_domain(host) + hostport[len(host) :]
    return urlunsplit(parts._replace(netloc=netloc))
