"""Request lists whose items must not repeat (ids, country codes, one target per KPI metric).

A repeat is refused at its second occurrence, so the 422 names the item to remove
(``Invalid value for 'geo[2]': 'US' is listed twice (first at geo[0])``), not the whole list.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

from pydantic import AfterValidator, ValidationError, ValidationInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

from beacon.core.errors import quoted

T = TypeVar("T")

# The JSON Schema of a list whose items are distinct as wholes.
UNIQUE_ITEMS: dict[str, Any] = {"uniqueItems": True}


def _first_repeat(values: Sequence[Any], key: Callable[[Any], Hashable]) -> tuple[int, int] | None:
    """(index of the first item repeated, index of its repeat), or None."""
    seen: dict[Hashable, int] = {}
    for index, value in enumerate(values):
        first = seen.setdefault(key(value), index)
        if first != index:
            return first, index
    return None


def distinct(*, key: str | None = None) -> AfterValidator:
    """A validator refusing a list whose items (or whose items' ``key`` attribute) repeat; the
    error is located at the second occurrence (``kpis[1].metric``)."""

    def by_key(value: Any) -> Hashable:
        return value if key is None else getattr(value, key)

    def check(values: Sequence[T] | None, info: ValidationInfo) -> Sequence[T] | None:
        repeat = None if values is None else _first_repeat(values, by_key)
        if values is None or repeat is None:
            return values
        first, second = repeat
        where = f"{info.field_name or 'list'}[{first}]" + ("" if key is None else f".{key}")
        reason = f"{quoted(by_key(values[second]))} is listed twice (first at {where})"
        # Raised as a ValidationError, pydantic places it under the field: ('geo', 2).
        raise ValidationError.from_exception_data(
            "distinct",
            [
                InitErrorDetails(
                    type=PydanticCustomError("value_error", "{reason}", {"reason": reason}),
                    loc=(second,) if key is None else (second, key),
                    input=by_key(values[second]),
                )
            ],
        )

    return AfterValidator(check)
