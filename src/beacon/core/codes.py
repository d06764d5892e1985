"""Code lists the wire formats share, for validation and for the OpenAPI document."""

from __future__ import annotations

import pycountry
from pydantic import JsonValue

# ISO 3166-1 alpha-2, upper case: what every country field accepts.
COUNTRY_CODES: list[str] = sorted(str(c.alpha_2) for c in pycountry.countries)


def country_code_schema() -> dict[str, JsonValue]:
    """``json_schema_extra`` stating that a string is one of ``COUNTRY_CODES``."""
    return {"enum": list[JsonValue](COUNTRY_CODES)}


def country_code(code: str) -> str:
    """``code`` as an upper-case ISO 3166-1 alpha-2 code (any case accepted); ValueError else."""
    # ASCII before upper-casing: 'ß'.upper() is 'SS' (South Sudan), 'ſe' 'SE', 'ıt' 'IT'.
    upper = code.strip().upper() if code.isascii() else ""
    if len(upper) != 2 or pycountry.countries.get(alpha_2=upper) is None:
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code ({_hint(upper)})")
    return upper


def _hint(upper: str) -> str:
    # "UK" is reserved, not assigned: the most common wrong code of all.
    return "the United Kingdom is 'GB'" if upper == "UK" else "such as 'GB'"
