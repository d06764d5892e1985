"""``Idempotency-Key`` on POST: a repeat within 24 hours gets the first response back.

The record is written in the same transaction as the work it describes, so a response is
stored exactly when its effects are. Only successful responses are stored: a request that
failed changed nothing and may be retried with the same key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from beacon.core.errors import BadRequest, Conflict
from beacon.core.timefmt import as_utc, utcnow
from beacon.messaging import idempotency_repository
from beacon.messaging.models import IdempotencyRecord
from beacon.messaging.schemas import ok_body

TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255
# How long a repeat waits for the first request of its key to finish before answering 409
# IDEMPOTENCY_IN_PROGRESS (PostgreSQL; SQLite waits for its single writer's busy timeout).
IN_PROGRESS_WAIT_SECONDS = 10.0


# Records written before this process started may hold a fingerprint of an earlier form (below);
# those written since hold this code's, so a conflict with one of them is never read twice.
_STARTED = utcnow()


@dataclass(frozen=True)
class IdempotencyKey:
    """A request's key and what its fingerprint is made of. The fingerprint is computed in
    ``respond``, on the handler's worker thread, before the key is held: a 10 MB JSON body takes
    a few tenths of a second to read, and a repeat waiting for the key must not wait for that
    too. (The json module's C code holds the GIL while it reads: the event loop waits for each
    call as it waits for the request's own parse of the body, not for the whole fingerprint.)"""

    key: str | None
    request_line: bytes = b""
    body: bytes = field(default=b"", repr=False, compare=False)  # never in a log line
    content_type: str | None = None

    def fingerprint(self) -> str:
        """What the request asks for: method, path and the body as ``canonical_body`` reads it."""
        return self._hash(canonical_body(self.body, self.content_type))

    def matches(self, record: IdempotencyRecord, fingerprint: str) -> bool:
        """Whether ``record`` answered this request (``fingerprint`` is this request's)."""
        if record.fingerprint == fingerprint:
            return True
        if as_utc(record.created_at) >= _STARTED:
            return False  # written by this code: a different request
        # Written before this process started, maybe by an earlier version, within its 24
        # hours: fingerprinted from the raw bytes (before bodies were read as JSON), or from
        # the numbers as written (until 2026-12). Drop both once no record can be that old.
        return record.fingerprint in (
            self._hash(self.body),
            self._hash(_number_text_canonical(self.body, self.content_type)),
        )

    def _hash(self, body: bytes) -> str:
        digest = hashlib.sha256(self.request_line)
        digest.update(body)
        return digest.hexdigest()


def _is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def canonical_body(body: bytes, content_type: str | None) -> bytes:
    """What a JSON body asks for, whatever its spacing and key order; other bodies as sent.

    The body is read as the request's own parsing reads it: a repeated key keeps the last
    value, and ``1`` and ``1.0`` stay different requests (an integer and a float) while
    ``1.0`` and ``1.00`` are one. A body holding a number that is not finite (``1e400``) is
    read as sent. Parsed and written by the json module's C code: a few hundredths of a second
    a megabyte."""
    if not _is_json(content_type):
        return body
    try:
        value = json.loads(body)
        # allow_nan=False: a number that is not finite (1e400, NaN) is read as sent, so 1e400
        # and 2e400 stay two requests on a route that never reads its body
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    except (ValueError, TypeError, RecursionError):  # not JSON, or nested past Python's stack
        return body


class _Number(str):
    """A JSON number kept as the text it was written in."""


def _written(value: object) -> str:
    if isinstance(value, dict):
        members = (f"{json.dumps(k)}:{_written(v)}" for k, v in sorted(value.items()))
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_written(v) for v in value) + "]"
    if isinstance(value, _Number):
        return str.__str__(value)
    return json.dumps(value)


def _number_text_canonical(body: bytes, content_type: str | None) -> bytes:
    """The canonical form records stored until 2026-12 were fingerprinted with: numbers kept
    as written (``1.00``), in Python code (three to four times slower). Drop it, with the raw
    bytes' fingerprint in ``IdempotencyKey.matches``, once no stored record can be that old
    (24 hours after an upgrade)."""
    if not _is_json(content_type):
        return body
    try:
        value = json.loads(body, parse_int=_Number, parse_float=_Number, parse_constant=_Number)
        return _written(value).encode()
    except (ValueError, RecursionError):
        return body


async def idempotency_key(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Makes a POST safe to retry: a repeat within 24 hours returns the first "
            "response. A repeat with another body is a 409 IDEMPOTENCY_CONFLICT.",
            # stated, not enforced by FastAPI: a bad key is the documented 400 below, not a 422
            json_schema_extra={"minLength": 1, "maxLength": MAX_KEY_LENGTH},
        ),
    ] = None,
) -> IdempotencyKey:
    """The request's key and what its fingerprint is made of (method, path, body), read in
    ``respond``.

    A JSON body is fingerprinted as what it means (``canonical_body``): the same request
    re-spaced or with its keys in another order is a repeat, not a conflict."""
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= MAX_KEY_LENGTH:
        raise BadRequest(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    if idempotency_key is None:
        return IdempotencyKey(None)
    return IdempotencyKey(
        idempotency_key,
        request_line=f"{request.method} {request.url.path}\n".encode(),
        body=await request.body(),
        content_type=request.headers.get("content-type"),
    )


Idempotency = Annotated[IdempotencyKey, Depends(idempotency_key)]


def respond(
    *,
    session: Session,
    account_id: int,
    idem: IdempotencyKey,
    status_code: int,
    produce: Callable[[], Any],
) -> JSONResponse:
    """Replay the stored response for a repeated key, or run ``produce`` and store its response.

    Repeats of one key are serialised (``idempotency_repository.lock_key``): a repeat that
    arrives while the first request is still running waits for it, then replays its response
    (or, if it failed and stored nothing, runs itself). So concurrent repeats create one
    object, and every one of them answers what the first did. A repeat that waited
    ``IN_PROGRESS_WAIT_SECONDS`` and still finds the first running is a 409
    ``IDEMPOTENCY_IN_PROGRESS`` with ``Retry-After``: it did nothing and may be retried."""
    if idem.key is None:
        return JSONResponse(ok_body(produce()), status_code=status_code)
    fingerprint = idem.fingerprint()  # before the key is held: a long body holds up no repeat
    if not idempotency_repository.lock_key(
        session,
        account_id=account_id,
        key=idem.key,
        expired_before=utcnow() - TTL,
        wait_seconds=IN_PROGRESS_WAIT_SECONDS,
    ):
        raise Conflict(
            "A request with this Idempotency-Key is still in progress; retry shortly",
            code="IDEMPOTENCY_IN_PROGRESS",
            details={"idempotencyKey": idem.key},
            headers={"Retry-After": "1"},
        )
    record = idempotency_repository.record_for(session, account_id=account_id, key=idem.key)
    if record is not None:
        if not idem.matches(record, fingerprint):
            raise Conflict(
                "This Idempotency-Key was already used with a different request",
                code="IDEMPOTENCY_CONFLICT",
                details={"idempotencyKey": idem.key},
            )
        return JSONResponse(
            record.body, status_code=record.status_code, headers={"Idempotent-Replayed": "true"}
        )
    body = ok_body(produce())
    session.add(
        IdempotencyRecord(
            account_id=account_id,
            key=idem.key,
            fingerprint=fingerprint,
            status_code=status_code,
            body=body,
            created_at=utcnow(),
        )
    )
    session.flush()
    return JSONResponse(body, status_code=status_code)
