"""What an Idempotency-Key's fingerprint reads of a body."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from tests.messaging.helpers import post

from beacon.core.timefmt import utcnow
from beacon.messaging import idempotency
from beacon.messaging.idempotency import IdempotencyKey, canonical_body
from beacon.messaging.models import IdempotencyRecord

JSON = "application/json"


def test_spacing_and_key_order_do_not_change_a_json_body() -> None:
    assert canonical_body(b'{"b": [1, {"y": 2, "x": 3}], "a": null}', JSON) == canonical_body(
        b'{"a":null,"b":[1,{"x":3,"y":2}]}', "application/json; charset=utf-8"
    )


def test_numbers_are_read_as_the_request_parsing_reads_them() -> None:
    # an integer and a float stay two requests; one float written two ways is one
    assert canonical_body(b'{"n": 1}', JSON) != canonical_body(b'{"n": 1.0}', JSON)
    assert canonical_body(b'{"n": 1.0}', JSON) == canonical_body(b'{"n": 1.00}', JSON)
    assert canonical_body(b'{"n": 1e2}', JSON) == canonical_body(b'{"n": 100.0}', JSON)
    # integers are exact however long
    assert canonical_body(b'{"n": 123456789012345678901234567890}', JSON) != canonical_body(
        b'{"n": 123456789012345678901234567891}', JSON
    )
    # a number is not the string of its digits
    assert canonical_body(b'{"n": 1}', JSON) != canonical_body(b'{"n": "1"}', JSON)


def _record(fingerprint: str, created_at: datetime) -> IdempotencyRecord:
    return IdempotencyRecord(fingerprint=fingerprint, created_at=created_at)


def test_a_record_stored_before_with_numbers_as_written_still_matches_its_repeat() -> None:
    """Records fingerprinted before numbers were read as floats (``1.50`` kept as written), or
    from the raw bytes before that, are replayed, not refused as conflicts, for the 24 hours
    they live."""
    line = b"POST /public/v1/templates\n"
    body = b'{"price": 1.50, "name": "a"}'
    repeat = IdempotencyKey("k", request_line=line, body=body, content_type=JSON)
    yesterday = utcnow() - timedelta(hours=20)
    as_written = hashlib.sha256(line + b'{"name":"a","price":1.50}').hexdigest()
    raw = hashlib.sha256(line + body).hexdigest()
    assert repeat.fingerprint() not in (as_written, raw)
    assert repeat.matches(_record(as_written, yesterday), repeat.fingerprint())
    assert repeat.matches(_record(raw, yesterday), repeat.fingerprint())
    other = IdempotencyKey(
        "k", request_line=line, body=b'{"price": 1.5, "name": "b"}', content_type=JSON
    )
    assert not other.matches(_record(as_written, yesterday), other.fingerprint())


def test_a_conflict_with_a_record_written_since_the_start_reads_the_body_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only a record older than the process can hold an earlier form: a conflict with one
    written since never re-reads a body (up to 10 MB) in the slow earlier way, under the lock."""
    earlier: list[bytes] = []
    monkeypatch.setattr(
        idempotency, "_number_text_canonical", lambda body, _: earlier.append(body) or body
    )
    line = b"POST /public/v1/templates\n"
    first = IdempotencyKey("k", request_line=line, body=b'{"n": 1}', content_type=JSON)
    record = _record(first.fingerprint(), utcnow())
    other = IdempotencyKey("k", request_line=line, body=b'{"n": 2}', content_type=JSON)
    assert not other.matches(record, other.fingerprint())
    assert earlier == []
    assert first.matches(record, first.fingerprint())


def test_a_body_with_a_number_that_is_not_finite_is_read_as_sent() -> None:
    """On a route that never reads its body (publish, preflight), nothing refuses ``1e400``:
    read as floats, ``1e400`` and ``2e400`` would be one request."""
    assert canonical_body(b'{"n": 1e400}', JSON) == b'{"n": 1e400}'
    assert canonical_body(b'{"n": 1e400}', JSON) != canonical_body(b'{"n": 2e400}', JSON)
    assert canonical_body(b'{"n": NaN}', JSON) == b'{"n": NaN}'


def test_the_body_stays_out_of_the_keys_repr() -> None:
    assert "secret" not in repr(IdempotencyKey("k", body=b'{"password": "secret"}'))


def test_a_repeated_key_keeps_its_last_value_as_the_request_parsing_does() -> None:
    assert canonical_body(b'{"a": 1, "a": 2}', JSON) == canonical_body(b'{"a": 2}', JSON)


def test_other_bodies_are_read_as_sent() -> None:
    csv = b"email\na@example.com\n"
    assert canonical_body(csv, "text/csv") == csv
    assert canonical_body(b'{"a": 1}', None) == b'{"a": 1}'
    broken = b'{"a": '
    assert canonical_body(broken, JSON) == broken
    deep = b"[" * 100_000 + b"]" * 100_000
    assert canonical_body(deep, JSON) == deep


def test_a_keyed_body_is_read_on_the_handlers_thread_not_the_event_loop(
    client: TestClient, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not in the request's dependency on the event loop, which serves every other request
    (and the pixel collector): on the handler's worker thread, before the key is held."""
    where: list[str] = []
    read = idempotency.canonical_body

    def spied(body: bytes, content_type: str | None) -> bytes:
        try:
            asyncio.get_running_loop()
            where.append("event loop")
        except RuntimeError:
            where.append("worker thread")
        return read(body, content_type)

    monkeypatch.setattr(idempotency, "canonical_body", spied)
    template = {"name": "t", "channel": "sms", "content": {"body": "Hi. Reply STOP to opt out"}}
    keyed = {**auth, "Idempotency-Key": "k-thread"}
    assert post(client, "/templates", keyed, template).status_code == 201
    replay = post(client, "/templates", keyed, template)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert where == ["worker thread", "worker thread"]
