"""The "not blank" rule every family's names share, and its JSON Schema pattern.

A value is blank when it shows nothing: only whitespace of any kind (spaces, non-breaking
spaces, ideographic spaces, line breaks), control characters, invisible format characters
(zero-width spaces and joiners, the byte order mark) and fillers that render as nothing, or
nothing at all. The rule is one regular expression, ``NON_BLANK_PATTERN``, with the same
meaning in Python and in the OpenAPI document (ECMA-262): a client validating against the
document accepts exactly what the server accepts.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field

# Characters that render as nothing though Unicode does not class them as space or format:
# the Hangul fillers and the blank Braille pattern.
_FILLERS = "\u115f\u1160\u3164\uffa0\u2800"
_BLANK_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


def _blank_class() -> str:
    """The basic-plane blank characters as a regex class body of ``\\uXXXX`` ranges."""
    blank = [
        cp
        for cp in range(0x10000)
        if not 0xD800 <= cp <= 0xDFFF
        and (
            unicodedata.category(chr(cp)) in _BLANK_CATEGORIES
            or chr(cp).isspace()
            or chr(cp) in _FILLERS
        )
    ]
    ranges: list[tuple[int, int]] = []
    for cp in blank:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return "".join(f"\\u{lo:04x}" if lo == hi else f"\\u{lo:04x}-\\u{hi:04x}" for lo, hi in ranges)


# "At least one character that is not blank". Characters outside the basic plane count as
# visible (ECMA regexes without the u flag see them as surrogate halves, which the class does
# not name), so the pattern means the same in both languages.
NON_BLANK_PATTERN = f"[^{_blank_class()}]"
_NON_BLANK = re.compile(NON_BLANK_PATTERN)


def is_blank(value: str) -> bool:
    """True when ``value`` shows nothing (see the module docstring)."""
    return _NON_BLANK.search(value) is None


def not_blank(value: str) -> str:
    """``value`` without surrounding whitespace, or ValueError when it is blank."""
    if is_blank(value):
        raise ValueError("must not be empty")
    return value.strip()


# A name or label: blank refused (422), surrounding whitespace dropped; the OpenAPI document
# states the same rule as ``minLength: 1`` and ``pattern``.
NonBlank = Annotated[
    str,
    AfterValidator(not_blank),
    Field(json_schema_extra={"minLength": 1, "pattern": NON_BLANK_PATTERN}),
]
