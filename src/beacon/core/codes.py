"""Code lists the wire formats share, for validation and for the OpenAPI document."""

from __future__ import annotations

import re

import pycountry
from pydantic import JsonValue

from beacon.core.errors import quoted

# ISO 3166-1 alpha-2, upper case: what every country field stores (`country_code` reads any case).
COUNTRY_CODES: list[str] = sorted(str(c.alpha_2) for c in pycountry.countries)
# What a refused country code is told, in every family: the code most often meant wrongly
# ("UK" is reserved, not assigned) by name, any other by example.
UK_HINT = "the United Kingdom is 'GB'"
COUNTRY_HINT = "such as 'GB'"
# Two ASCII letters and nothing else: str.upper() alone would turn "ß" into "SS" (South
# Sudan) and "ﬆ" into "ST", and str.strip() would take a no-break or em space around a code.
_TWO_LETTERS = re.compile(r"[A-Za-z]{2}")


# What a field ``country_code`` validates says of itself (its schema lists the codes in upper
# and in lower case: ``any_case_country_code_schema``).
ANY_CASE_COUNTRY_DESCRIPTION = (
    f"An assigned ISO 3166-1 alpha-2 country code ({COUNTRY_HINT}), in any case ('gb', 'Gb' "
    "and 'GB' alike), read as upper case."
)


def any_case_country_code_schema() -> dict[str, JsonValue]:
    """``json_schema_extra`` of a string ``country_code`` validates: ``COUNTRY_CODES`` in upper
    and in lower case (a mixed-case code is accepted too, as ``ANY_CASE_COUNTRY_DESCRIPTION``
    says; an enum cannot list every mixing)."""
    return {"enum": list[JsonValue]([*COUNTRY_CODES, *(code.lower() for code in COUNTRY_CODES)])}


def country_code(code: str) -> str:
    """``code`` as an upper-case ISO 3166-1 alpha-2 code: two ASCII letters in any case, with
    plain spaces around them; ValueError else."""
    letters = code.strip(" ")
    upper = letters.upper() if _TWO_LETTERS.fullmatch(letters) else None
    if upper is None or pycountry.countries.get(alpha_2=upper) is None:
        raise ValueError(
            f"{quoted(code)} is not an ISO 3166-1 alpha-2 country code ({hint(upper)})"
        )
    return upper


def hint(upper: str | None) -> str:
    """The hint a refused country code is given (``upper``: the code in upper case)."""
    return UK_HINT if upper == "UK" else COUNTRY_HINT
