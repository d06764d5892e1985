"""Wire format shared by /public/v1: camelCase models, the success envelope and pagination."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, JsonValue
from pydantic.alias_generators import to_camel

from beacon.core.errors import quoted

Channel = Literal["email", "sms", "direct_mail"]
CHANNELS: tuple[str, ...] = ("email", "sms", "direct_mail")
SubscriptionStatus = Literal["subscribed", "unsubscribed", "bounced"]

T = TypeVar("T")


class InModel(BaseModel):
    """A request body: camelCase names only, unknown fields refused (400)."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_alias=True, validate_by_name=False, extra="forbid"
    )


class OutModel(BaseModel):
    """A response body: built from Python names, serialised in camelCase."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, serialize_by_alias=True
    )


class Pagination(BaseModel):
    total: int
    limit: int
    offset: int


class Envelope(BaseModel, Generic[T]):
    """``{"success": true, "data": ...}``."""

    success: Literal[True] = True
    data: T


class PageEnvelope(BaseModel, Generic[T]):
    """``{"success": true, "data": [...], "pagination": {...}}``."""

    success: Literal[True] = True
    data: list[T]
    pagination: Pagination


def dump(value: Any) -> Any:
    """JSON-ready form of a model, a list of models or plain data."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list):
        return [dump(item) for item in value]
    return value


def ok_body(data: Any) -> dict[str, Any]:
    """The success envelope around ``data``."""
    return {"success": True, "data": dump(data)}


def ok(data: Any, status_code: int = 200) -> JSONResponse:
    """A success response."""
    return JSONResponse(ok_body(data), status_code=status_code)


def page(items: list[Any], *, total: int, limit: int, offset: int) -> JSONResponse:
    """A page of a list with its pagination block."""
    return JSONResponse(
        {
            "success": True,
            "data": dump(items),
            "pagination": {"total": total, "limit": limit, "offset": offset},
        }
    )


# The IANA database's names, its legacy aliases included ('EST', 'GMT', 'US/Eastern': clients
# and stored campaigns use them). zoneinfo also opens keys that name no zone of the database:
# 'localtime' (whatever zone the server is set to: a send time that moved with the server's
# settings), 'Factory', 'posixrules', and the posix/ and right/ copies of the database.
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})
IANA_TIMEZONES = frozenset(
    name
    for name in available_timezones()
    if name not in _NOT_ZONES and not name.startswith(("posix/", "right/"))
) | {"UTC"}
TIMEZONES: list[JsonValue] = [*sorted(IANA_TIMEZONES)]


def check_timezone(value: str) -> str:
    """An IANA timezone name (``IANA_TIMEZONES``), or ValueError."""
    if value not in IANA_TIMEZONES:
        raise ValueError(
            f"unknown IANA timezone {quoted(value)}: use a name of the IANA database such as "
            "America/New_York, or UTC"
        )
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown IANA timezone {quoted(value)}") from None
    return value
