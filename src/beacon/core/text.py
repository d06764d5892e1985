"""The "not blank" rule every family's names share."""

from __future__ import annotations

import unicodedata

# Invisible characters Python's str.isspace() does not count (zero-width spaces and joiners,
# the word joiner, the byte order mark, the Mongolian vowel separator).
_INVISIBLE = frozenset("\u180e\u200b\u200c\u200d\u2060\ufeff")


def is_blank(value: str) -> bool:
    """True when ``value`` shows nothing: only whitespace of any kind (spaces, non-breaking
    spaces, ideographic spaces, line breaks), invisible format characters, or nothing."""
    return all(ch.isspace() or ch in _INVISIBLE or unicodedata.category(ch) == "Cf" for ch in value)


def not_blank(value: str) -> str:
    """``value`` without surrounding whitespace, or ValueError when it is blank."""
    if is_blank(value):
        raise ValueError("must not be empty")
    return value.strip()
