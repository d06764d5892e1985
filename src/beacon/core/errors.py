"""One error hierarchy. Each API family renders it in its own documented envelope."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel

# Messages quote what the client sent ('Invalid value for 'domain': 'x...' is not a domain
# name'): a value longer than this is cut, with its length, so a 3,000-character input is never
# echoed whole (in the response, the logs or the console). It is cut where it enters the
# message (``quoted``), never by reading a finished message back: client text may hold quotes.
MAX_QUOTED_CHARS = 100


def quoted(value: object) -> str:
    """``value`` as a message quotes it: repr() of a string (``'GB'``, or ``"o'brien"``), a
    string longer than ``MAX_QUOTED_CHARS`` cut to its first characters, an ellipsis and its
    length (``'aaaa…' (3000 characters)``); any other value as its repr(), ``clipped``."""
    if not isinstance(value, str):
        return clipped(repr(value))
    if len(value) <= MAX_QUOTED_CHARS:
        return repr(value)
    head = repr(value[:MAX_QUOTED_CHARS])
    return f"{head[:-1]}…{head[-1]} ({len(value)} characters)"


def clipped(text: str, limit: int = MAX_QUOTED_CHARS) -> str:
    """``text`` (an unquoted input a message names, such as a request path, or a library's
    message holding one) cut past ``limit``: its first characters, an ellipsis and its length."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


class APIError(Exception):
    """An expected failure that answers with ``status`` and a stable ``code``."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = code or self.code
        self.details = dict(details or {})
        self.headers = dict(headers or {})


class BadRequest(APIError):
    status, code = 400, "bad_request"


class Unauthorized(APIError):
    status, code = 401, "unauthorized"


class Forbidden(APIError):
    status, code = 403, "forbidden"


class NotFound(APIError):
    status, code = 404, "not_found"


class MethodNotAllowed(APIError):
    status, code = 405, "method_not_allowed"


class Conflict(APIError):
    status, code = 409, "conflict"


class PayloadTooLarge(APIError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(APIError):
    status, code = 415, "unsupported_media_type"


def unsupported_content_type(content_type: str, accepted: str) -> UnsupportedMediaType:
    """The 415 for a body of ``content_type`` (the header's value, '' when absent) where
    ``accepted`` is what the endpoint reads ("application/json")."""
    if not content_type.strip():
        return UnsupportedMediaType(f"No Content-Type header: send {accepted}")
    return UnsupportedMediaType(f"Unsupported content type {quoted(content_type)}: send {accepted}")


class ValidationFailed(APIError):
    status, code = 422, "validation_error"


class InvalidValue(ValidationFailed):
    """The 422 for one field's value: ``Invalid value for 'end_date': <problem>`` (the name as
    `quoted` writes it: a field named in the request, such as an unknown JSON key, is echoed
    safely).

    ``field`` and ``problem`` stay readable apart, so a form shows the problem beside its field
    without reading the message back; ``details`` name the field too (``{"field": ...}``, for
    the envelopes that carry details) unless the caller names another one."""

    def __init__(
        self,
        field: str,
        problem: str,
        *,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            f"Invalid value for {quoted(field)}: {problem}",
            code=code,
            details={"field": field, **(details or {})},
        )
        self.field = field
        self.problem = problem


# U+0000 fits no stored text (PostgreSQL refuses it, SQLite would keep it): refused everywhere.
NUL_MESSAGE = "Text values must not contain the NUL character (U+0000)"
# What Excel saves as "Unicode text": its NUL bytes are the encoding's, not the text's, and the
# sender should hear that. A 400, as any body or upload that is not UTF-8 is: the bytes are
# malformed, no field's value is wrong.
WIDE_TEXT_MESSAGE = (
    "The text sent is UTF-16 or UTF-32 (it starts with a byte-order mark): save it as UTF-8"
)


class RateLimited(APIError):
    status, code = 429, "rate_limited"


class InternalError(APIError):
    status, code = 500, "internal_error"


class ServiceUnavailable(APIError):
    status, code = 503, "unavailable"


def not_found(resource: str, resource_id: object) -> NotFound:
    """The seeds' not-found message: ``Campaign with ID 999 not found``."""
    return NotFound(f"{resource} with ID {resource_id} not found")


# --- Envelopes -------------------------------------------------------------------------------

Renderer = Callable[[APIError, str], dict[str, Any]]


def render_v1(error: APIError, request_id: str) -> dict[str, Any]:
    """``{"error": "<code>", "message": "..."}`` as in the /v1 seeds (plus a request id on 500)."""
    body: dict[str, Any] = {"error": error.error_code, "message": error.message}
    if error.status >= 500:
        body["request_id"] = request_id
    return body


@dataclass(frozen=True)
class ErrorFamily:
    path_prefix: str
    render: Renderer


_FAMILIES: list[ErrorFamily] = []


def register_error_family(path_prefix: str, render: Renderer) -> None:
    """Route errors under ``path_prefix`` to ``render`` (longest prefix wins; default is /v1's)."""
    _FAMILIES[:] = [f for f in _FAMILIES if f.path_prefix != path_prefix]
    _FAMILIES.append(ErrorFamily(path_prefix, render))
    _FAMILIES.sort(key=lambda f: len(f.path_prefix), reverse=True)


def renderer_for(path: str) -> Renderer:
    """The envelope renderer of the API family that owns ``path``."""
    for family in _FAMILIES:
        if path.startswith(family.path_prefix):
            return family.render
    return render_v1


# --- Request validation -> 400 / 422 ---------------------------------------------------------

_LOCATIONS = {"body", "query", "path", "header", "cookie"}
_TYPE_NAMES = {
    "string_type": "string",
    "int_type": "integer",
    "int_parsing": "integer",
    "int_from_float": "integer",
    "float_type": "number",
    "float_parsing": "number",
    "bool_type": "boolean",
    "bool_parsing": "boolean",
    "list_type": "array",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
    "date_type": "date, use YYYY-MM-DD",
    "date_parsing": "date, use YYYY-MM-DD",
    "date_from_datetime_parsing": "date, use YYYY-MM-DD",
    "date_from_datetime_inexact": "date, use YYYY-MM-DD",
    "date_format": "date, use YYYY-MM-DD",
    "datetime_type": "ISO 8601 timestamp",
    "datetime_parsing": "ISO 8601 timestamp",
    "uuid_type": "UUID",
    "uuid_parsing": "UUID",
}
# Bounds in words: "must be at most 1000000000", not pydantic's "Input should be ...".
_BOUNDS = {
    "less_than_equal": ("le", "must be at most {}"),
    "less_than": ("lt", "must be less than {}"),
    "greater_than_equal": ("ge", "must be at least {}"),
    "greater_than": ("gt", "must be greater than {}"),
    "string_too_long": ("max_length", "must be at most {} characters long"),
    "string_too_short": ("min_length", "must be at least {} characters long"),
    "too_long": ("max_length", "must have at most {} items"),
    "too_short": ("min_length", "must have at least {} items"),
}
# The tags pydantic adds to a location inside a union (``use_case.str-enum[UseCase]``,
# ``name.constrained-str``, ``name.none``): names of its validators, never of a field. Plain
# type tags (``str``, ``int``, ``url``) are not stripped: fields have those names too. A model
# in a union is tagged with its class name (``rules.SegmentRules.exclude``), stripped as well.
_UNION_TAG = re.compile(
    r".*\[.*\]|(?:constrained|function|lax-or-strict|json-or-python|multi-host)-[a-z-]+|none"
)


def _model_names() -> set[str]:
    """Class names of every pydantic model (the tags a union of models puts in a location)."""
    names: set[str] = set()
    pending: list[type[BaseModel]] = [BaseModel]
    while pending:
        for model in pending.pop().__subclasses__():
            names.add(model.__name__)
            pending.append(model)
    return names


def _is_union_tag(part: str) -> bool:
    return bool(_UNION_TAG.fullmatch(part)) or (part[:1].isupper() and part in _model_names())


def field_name(loc: Sequence[str | int]) -> str:
    """``("body", "kpis", 0, "metric")`` -> ``kpis[0].metric``, without pydantic's union tags."""
    parts = list(loc[1:] if loc and loc[0] in _LOCATIONS else loc)
    name = ""
    for index, part in enumerate(parts):
        if isinstance(part, int):
            name += f"[{part}]"
        elif index and _is_union_tag(part):
            continue
        else:
            name += ("." if name else "") + str(part)
    return name or "body"


def error_from_validation(errors: Sequence[Mapping[str, Any]]) -> APIError:
    """Turn pydantic/FastAPI validation errors into one clear 400 or 422, naming the field.

    Malformed input (bad JSON, missing field, wrong type, unknown parameter, bad path id) is 400;
    well-formed input with an invalid value is 422. Structural problems are reported first. An
    error about one field says which in ``details`` (``{"field": "kpis[0].metric"}``), as the
    services' ``InvalidValue`` errors do, for the envelopes that carry details.
    """
    ranked = sorted(_meaningful(errors), key=lambda e: 0 if _is_structural(e) else 1)
    first = ranked[0]
    kind = str(first.get("type", ""))
    loc = tuple(first.get("loc", ()))
    ctx = first.get("ctx") or {}
    field = field_name(loc)
    name, where = quoted(field), {"field": field}
    if kind == "json_invalid":
        return BadRequest(f"Malformed JSON body: {ctx.get('error', 'invalid JSON')}")
    if kind == "missing":
        if loc == ("body",):
            return BadRequest("Missing JSON request body")
        return BadRequest(f"Missing required parameter {name}", details=where)
    if kind == "extra_forbidden":
        return BadRequest(f"Unknown parameter {name}", details=where)
    if loc and loc[0] == "path":
        expected = (
            "a positive integer" if kind.startswith("int") or "than" in kind else "a valid value"
        )
        if kind.startswith("uuid"):
            expected = "a UUID"
        return BadRequest(f"Invalid path parameter {name}: expected {expected}", details=where)
    if kind == "date_invalid":
        # Not a day at all, like a malformed date: 400, as before, with the reason.
        return BadRequest(f"Invalid value for {name}: {first.get('msg', '')}", details=where)
    if kind in _TYPE_NAMES:
        return BadRequest(f"Invalid type for {name}: expected {_TYPE_NAMES[kind]}", details=where)
    if kind.endswith("_type"):
        return BadRequest(f"Invalid type for {name}: {_clean(first.get('msg', ''))}", details=where)
    if kind in ("literal_error", "enum"):
        return ValidationFailed(
            f"Invalid value for {name}: {quoted(first.get('input'))}. "
            f"Allowed values: {ctx.get('expected', '')}",
            details=where,
        )
    return ValidationFailed(f"Invalid value for {name}: {value_reason(first)}", details=where)


def value_reason(error: Mapping[str, Any]) -> str:
    """Why a well-formed value was refused, in the API's words: a bound as "must be at least 0"
    (not pydantic's "Input should be greater than or equal to 0"), else the validator's words."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind in ("too_long", "too_short") and isinstance(error.get("input"), str):
        # A constrained optional string (``Annotated[str, ...] | None``) is checked by
        # pydantic as a generic value ("too_long", a list's words): count characters.
        kind = f"string_{kind}"
    if kind not in _BOUNDS or _BOUNDS[kind][0] not in ctx:
        return _clean(str(error.get("msg", "")))
    limit_key, words = _BOUNDS[kind]
    bound = words.format(ctx[limit_key])
    if ctx[limit_key] == 1:  # "at least 1 item", not "1 items"
        bound = bound.replace(" items", " item").replace(" characters", " character")
    return bound


def _meaningful(errors: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """``errors`` without a union's "should be None" branch when the other branch said why."""
    named = {field_name(e.get("loc", ())) for e in errors if e.get("type") != "none_required"}
    kept = [
        e
        for e in errors
        if e.get("type") != "none_required" or field_name(e.get("loc", ())) not in named
    ]
    return kept or list(errors)


def _is_structural(error: Mapping[str, Any]) -> bool:
    kind = str(error.get("type", ""))
    return (
        kind in ("json_invalid", "missing", "extra_forbidden", "date_invalid")
        or kind in _TYPE_NAMES
        or kind.endswith("_type")
        or (bool(error.get("loc")) and error["loc"][0] == "path")
    )


def _clean(message: str) -> str:
    return message.removeprefix("Value error, ")
