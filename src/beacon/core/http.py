"""ASGI plumbing: request ids, access logs, body limits, and errors rendered in each envelope."""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from beacon.core.context import SCOPE_KEY, RequestContext, request_context
from beacon.core.csvtext import WIDE_BOMS
from beacon.core.errors import (
    NUL_MESSAGE,
    WIDE_TEXT_MESSAGE,
    APIError,
    BadRequest,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
    clipped,
    error_from_validation,
    renderer_for,
)
from beacon.core.transport import COLLECTOR_PREFIX

access_log = logging.getLogger("beacon.access")
# Paths whose last segment is a credential (an email's unsubscribe token): logged as prefix.
_SECRET_PATH_PREFIXES: list[str] = []


def register_secret_path_prefix(prefix: str) -> None:
    """Paths under ``prefix`` end in a credential: access logs show ``prefix[redacted]``."""
    if prefix not in _SECRET_PATH_PREFIXES:
        _SECRET_PATH_PREFIXES.append(prefix)


def loggable_path(path: str) -> str:
    """``path`` as the access log may show it."""
    for prefix in _SECRET_PATH_PREFIXES:
        if path.startswith(prefix) and len(path) > len(prefix):
            return prefix + "[redacted]"
    return path


error_log = logging.getLogger("beacon.error")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


ErrorPage = Callable[[Scope, APIError, str], Response]
_ERROR_PAGES: dict[str, ErrorPage] = {}


def register_error_page(path_prefix: str, render: ErrorPage) -> None:
    """Answer errors under ``path_prefix`` with ``render``'s response (an HTML console page)
    instead of a JSON envelope."""
    _ERROR_PAGES[path_prefix] = render


def error_response(
    path: str, error: APIError, request_id: str, scope: Scope | None = None
) -> Response:
    """The family's envelope for ``error`` as a JSON response (or the family's error page)."""
    if scope is not None:
        for prefix, page in _ERROR_PAGES.items():
            if path.startswith(prefix):
                return page(scope, error, request_id)
    body = renderer_for(path)(error, request_id)
    return Response(
        orjson.dumps(body),
        status_code=error.status,
        media_type="application/json",
        headers=error.headers,
    )


class RequestContextMiddleware:
    """Outermost application middleware: ids, limits, logging and the last-resort 500."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        ctx = RequestContext(
            request_id=incoming
            if incoming and _REQUEST_ID.match(incoming)
            else secrets.token_hex(8)
        )
        scope[SCOPE_KEY] = ctx
        started = time.perf_counter()
        status_holder = {"status": 500, "started": False}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", ctx.request_id.encode()))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in ctx.extra_headers if h[0] not in present)
                message["headers"] = headers
            await send(message)

        try:
            declared = _header(scope, b"content-length")
            if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
                raise PayloadTooLarge(f"Request body exceeds {self.max_body_bytes} bytes")
            receive = self._limited(receive, ctx)
            if not scope["path"].startswith(COLLECTOR_PREFIX):
                _refuse_nul_in_url(scope)
                if not _is_multipart(scope):
                    receive = _refusing_nul(receive, ctx)
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            if status_holder["started"]:
                raise
            error = _as_api_error(exc, ctx.request_id)
            response = error_response(scope["path"], error, ctx.request_id, scope)
            await response(scope, receive, send_wrapper)
        finally:
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": loggable_path(scope["path"]),
                    "status": status_holder["status"],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "request_id": ctx.request_id,
                    "account_id": ctx.account_id,
                },
            )

    def _limited(self, receive: Receive, ctx: RequestContext) -> Receive:
        seen = 0
        limit = self.max_body_bytes

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    ctx.body_error = PayloadTooLarge(f"Request body exceeds {limit} bytes")
                    raise ctx.body_error
            return message

        return wrapped


# The pixel collector (under COLLECTOR_PREFIX) answers its GIF whatever it is sent, and keeps its
# own rejection counts.
# A JSON \u0000 escape that is not itself an escaped backslash followed by "u0000".
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def _refuse_nul_in_url(scope: Scope) -> None:
    """U+0000 fits no stored text (PostgreSQL refuses it): a clear 422 up front, on any backend."""
    query = scope.get("query_string", b"")
    if "\x00" in scope["path"] or b"\x00" in query or b"%00" in query:
        raise ValidationFailed(NUL_MESSAGE)


def _is_multipart(scope: Scope) -> bool:
    """A multipart form carries files, whose bytes are theirs (a UTF-16 CSV is full of NUL
    bytes): whoever reads a file decodes it (``csvtext.upload_text``) and says what is wrong
    with it in its own words. Its text is checked where it is parsed: an API route's form by
    ``jsonbody.StrictJSONRequest``, a console form by ``console.web.submitted_csrf``."""
    content_type = _header(scope, b"content-type") or ""
    return content_type.lower().startswith("multipart/form-data")


def _refusing_nul(receive: Receive, ctx: RequestContext) -> Receive:
    """``receive`` that refuses a body carrying NUL, raw or as a JSON escape."""
    tail = b""

    async def wrapped() -> Message:
        nonlocal tail
        message = await receive()
        if message["type"] == "http.request":
            body = message.get("body", b"")
            window = tail + body
            if b"\x00" in body or _JSON_NUL.search(window):
                if not tail and body.startswith(WIDE_BOMS):  # the first chunk's first bytes
                    ctx.body_error = BadRequest(WIDE_TEXT_MESSAGE)
                else:
                    ctx.body_error = ValidationFailed(NUL_MESSAGE)
                raise ctx.body_error
            tail = window[-16:]
        return message

    return wrapped


def _as_api_error(exc: Exception, request_id: str) -> APIError:
    """The error to answer for ``exc``: itself, 503 while the database is unreachable, or 500."""
    if isinstance(exc, APIError):
        return exc
    if _database_unreachable(exc):
        # An outage is not a bug: clients and load balancers retry a 503, as /readyz says.
        error_log.warning("database unreachable: %s", str(exc).splitlines()[0])
        return ServiceUnavailable(
            "The database is not reachable; retry shortly", headers={"Retry-After": "1"}
        )
    if _nul_character(exc):
        # PostgreSQL text cannot hold U+0000 (SQLite can): refuse it the same way everywhere
        # it reaches the database, whichever field carried it; the transaction rolled back.
        return ValidationFailed(NUL_MESSAGE)
    error_log.exception("unhandled error", extra={"request_id": request_id})
    return InternalError(f"Internal server error (request id {request_id})")


def _database_unreachable(exc: Exception) -> bool:
    # A connection that could not be opened (no statement yet) or that was cut mid-request.
    return isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or (isinstance(exc, OperationalError) and exc.statement is None)
    )


def _nul_character(exc: Exception) -> bool:
    return isinstance(exc, DataError) and "NUL (0x00)" in str(exc.orig)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return error_response(request.url.path, exc, request_context(request).request_id, request.scope)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    error = error_from_validation(exc.errors())
    return error_response(
        request.url.path, error, request_context(request).request_id, request.scope
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    error: APIError
    body_error = request_context(request).body_error
    if isinstance(body_error, APIError):
        error = body_error
    elif exc.status_code == 404:
        error = NotFound(
            f"No route matches {request.method} {clipped(request.url.path)}{_hint(request)}"
        )
    elif exc.status_code == 405:
        error = MethodNotAllowed(
            f"Method {request.method} is not allowed on {clipped(request.url.path)}"
        )
    elif exc.status_code == 415:
        error = UnsupportedMediaType(str(exc.detail))
    elif exc.status_code == 413:
        error = PayloadTooLarge(str(exc.detail))
    elif exc.status_code < 500:
        error = BadRequest(str(exc.detail))
    else:
        error = InternalError(
            f"Internal server error (request id {request_context(request).request_id})"
        )
    response = error_response(
        request.url.path, error, request_context(request).request_id, request.scope
    )
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 405:
        response.headers["Allow"] = ", ".join(_allowed_methods(request))
    return response


def _hint(request: Request) -> str:
    """`` (without the trailing slash: /v1/x)`` when that path has a route, else ''."""
    path = request.url.path
    if len(path) < 2 or not path.endswith("/"):
        return ""
    bare = path.rstrip("/") or "/"
    scope = {**request.scope, "path": bare}
    if any(route.matches(scope)[0] != Match.NONE for route in request.app.routes):
        return f" (without the trailing slash: {clipped(bare)})"
    return ""


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> list[str]:
    """Every method a route serves on this path, asked of each route as routing asks it (an
    included router answers for its own routes; Starlette only names the first route's). HEAD
    is named only where a route serves it (the health probes, console pages); the API's GET
    routes do not answer it, so none can be made to act by a mail scanner's HEAD on a link."""
    methods = {
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.routes
        )
    }
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    """Route every error FastAPI or Starlette raises through the one hierarchy."""
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


def json_log_formatter() -> logging.Formatter:
    """A formatter writing one JSON object per log line, including ``extra`` fields."""

    reserved = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

    class JSONFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            payload: dict[str, Any] = {
                "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
                "level": record.levelname,
                "logger": record.name,
                "msg": record.getMessage(),
            }
            payload.update({k: v for k, v in vars(record).items() if k not in reserved})
            if record.exc_info:
                payload["exc"] = self.formatException(record.exc_info)
            return orjson.dumps(payload, default=str).decode()

    return JSONFormatter()


def configure_logging(level: str) -> None:
    """Structured JSON logs on stderr for the whole process."""
    handler = logging.StreamHandler()
    handler.setFormatter(json_log_formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("alembic").setLevel(logging.WARNING)
