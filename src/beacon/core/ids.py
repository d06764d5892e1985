"""Resource ids on the wire: one range for every `/v1` integer id.

Primary keys are 32-bit integers in PostgreSQL, so an id outside ``1..MAX_ID`` cannot exist.
Path parameters declare the range, which makes an out-of-range id a documented 422 instead
of a database error.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BeforeValidator, Field, Strict

MAX_ID = 2**31 - 1


def id_path(description: str) -> Any:
    """A path parameter holding a resource id."""
    return Path(ge=1, le=MAX_ID, description=description)


ResourceId = Annotated[int, Field(ge=1, le=MAX_ID)]
"""A resource id inside a request body."""


def _integral(value: object) -> object:
    """``61.0`` as ``61``: JSON Schema's ``integer`` includes a number written with a zero
    fraction, and a client validating against the document may send one."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


StrictId = Annotated[ResourceId, BeforeValidator(_integral), Strict()]
"""A resource id inside a JSON body, as a JSON integer (61, or 61.0): never "61" or true."""
