"""Strict JSON request bodies: what the json module lets through but no database stores.

Python's parser accepts ``NaN``, ``Infinity``, numbers that overflow to ``inf`` (``1e400``) and
lone UTF-16 surrogates (``"\\udc00"``); PostgreSQL refuses all of them, SQLite stores them
(``1e400`` as ``null``) and the next read fails. A route of ``StrictJSONRoute`` refuses them
while parsing, with a 422 naming the field, before any handler runs. Its forms, which
``core.http`` does not read for NUL (a multipart file's bytes are its own), are checked here
once parsed, and their fields are bounded by the body limit as a JSON body is.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import Any, TypeVar

from fastapi import Request, Response, params
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData
from starlette.routing import BaseRoute

from beacon.core.context import request_context
from beacon.core.csvtext import WIDE_BOMS
from beacon.core.errors import (
    NUL_MESSAGE,
    WIDE_TEXT_MESSAGE,
    APIError,
    BadRequest,
    InvalidValue,
    ValidationFailed,
    error_from_validation,
    field_name,
)

# A JSON escape of a UTF-16 surrogate; raw UTF-8 cannot encode one, so only escapes can.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
M = TypeVar("M", bound=BaseModel)


class _NotFinite:
    """Stands in for a number that is not finite until its place is known."""

    def __init__(self, literal: str) -> None:
        self.literal = literal


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _problem(value: Any) -> str | None:
    if isinstance(value, _NotFinite):
        return f"{value.literal} is not a finite number"
    if isinstance(value, str) and _has_surrogate(value):
        return "text must not contain a lone UTF-16 surrogate (such as \\udc00)"
    return None


def _first_problem(document: Any) -> tuple[tuple[str | int, ...], str] | None:
    """The path of the first unstorable value (or key) in ``document``, and what is wrong."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in reversed(value.items()):
                if _has_surrogate(key):
                    return path, "a key contains a lone UTF-16 surrogate"
                stack.append(((*path, key), item))
        elif isinstance(value, list):
            stack.extend(((*path, i), item) for i, item in reversed(list(enumerate(value))))
        else:
            problem = _problem(value)
            if problem is not None:
                return path, problem
    return None


def loads_strict(body: bytes) -> Any:
    """``json.loads`` refusing non-finite numbers and lone surrogates with a 422 naming the field,
    and text that is not UTF-8 with a 400."""
    suspect = False

    def not_finite(literal: str) -> _NotFinite:
        nonlocal suspect
        suspect = True
        return _NotFinite(literal)

    def number(literal: str) -> float | _NotFinite:
        value = float(literal)
        return value if math.isfinite(value) else not_finite(literal)

    try:
        document = json.loads(body, parse_constant=not_finite, parse_float=number)
    except UnicodeDecodeError as exc:
        # JSON is UTF-8 (RFC 8259), whatever charset the Content-Type names; FastAPI answered
        # any decode failure with its own "There was an error parsing the body".
        raise BadRequest(
            f"Malformed JSON body: not UTF-8 text (byte {exc.start}); send JSON as UTF-8"
        ) from None
    if suspect or _SURROGATE_ESCAPE.search(body):
        found = _first_problem(document)
        if found is not None:
            path, problem = found
            raise InvalidValue(field_name(path), problem)
    return document


def parse_model(model: type[M], body: bytes) -> M:
    """Validate a JSON body read by hand (an endpoint that also takes text uploads) with the
    same rules as a declared body: unstorable values 422 naming the field, then pydantic's."""
    try:
        loads_strict(body)
    except ValueError as exc:
        if isinstance(exc, ValidationFailed):
            raise
        # malformed JSON: pydantic's parser below names what is wrong, as for declared bodies
    try:
        return model.model_validate_json(body or b"")
    except ValidationError as exc:
        raise error_from_validation(exc.errors()) from None


class StrictJSONRequest(Request):
    """A request whose JSON body goes through ``loads_strict`` and whose form is bounded by
    the body limit and holds no NUL (``_get_form``)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = loads_strict(body)
            except APIError as exc:
                # FastAPI answers any parse failure as a generic 400; the error handler renders
                # the body error recorded here instead (as for an oversized body).
                request_context(self).body_error = exc
                raise
        return self._json

    async def _get_form(
        self,
        *,
        max_files: int | float = 1000,
        max_fields: int | float = 1000,
        max_part_size: int = 1024 * 1024,
    ) -> FormData:
        # Starlette's form(), FastAPI's Form() parameters and a handler's own read all come
        # here. A field is bounded by the request body limit, as a JSON body is (Starlette's
        # 1 MB a field answered its own 400); the form is parsed once, then cached.
        body_limit: int = self.app.state.settings.max_body_bytes
        form = await super()._get_form(
            max_files=max_files, max_fields=max_fields, max_part_size=body_limit
        )
        error = _form_error(form)
        if error is not None:
            # core.http leaves multipart bodies to their readers: a file's bytes are its own
            # (``csvtext.upload_text`` checks them once decoded), the rest of the form is text.
            await form.close()
            request_context(self).body_error = error  # FastAPI answers a parse error as a 400
            raise error
        return form


# A text field's bytes that are not UTF-8 are read as latin-1: a wide byte-order mark so read.
_WIDE_STARTS = tuple(bom.decode("latin-1") for bom in WIDE_BOMS)


def _form_error(form: FormData) -> APIError | None:
    """The answer to a form whose field names or text values hold U+0000: 400 naming the
    encoding when the value is UTF-16 or UTF-32 text, as ``core.http`` answers such a body."""
    for name, value in form.multi_items():
        text = value if isinstance(value, str) else ""
        if "\x00" in name or "\x00" in text:
            if text.startswith(_WIDE_STARTS):
                return BadRequest(WIDE_TEXT_MESSAGE)
            return ValidationFailed(NUL_MESSAGE)
    return None


class StrictJSONRoute(APIRoute):
    """An API route parsing its body with ``StrictJSONRequest``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every API route under ``routes``, inside included routers too (FastAPI keeps an
    included router as one entry whose routes stay those of the router that declared them)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes)


# The API families; their routes may read JSON by hand (``parse_model``, ``request.json()``).
API_PREFIXES = ("/v1/", "/public/v1/", "/u/")


def _takes_json(route: APIRoute) -> bool:
    return route.path.startswith(API_PREFIXES) or any(
        not isinstance(param.field_info, params.Form) for param in route.dependant.body_params
    )


def require_strict_json(routes: Iterable[BaseRoute]) -> None:
    """Refuse to build an app with a route that would parse JSON bodies laxly: strict bodies
    are the application's rule, for every family (console forms are not JSON)."""
    lax = [
        f"{sorted(route.methods or ())} {route.path}"
        for route in api_routes(routes)
        if _takes_json(route) and not isinstance(route, StrictJSONRoute)
    ]
    if lax:
        raise TypeError(f"routes without StrictJSONRoute (core.jsonbody): {', '.join(lax)}")
