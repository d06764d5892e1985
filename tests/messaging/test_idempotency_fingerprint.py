"""What an Idempotency-Key's fingerprint reads of a body."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from fastapi.testclient import TestClient
from tests.messaging.helpers import post

from beacon.messaging import idempotency
from beacon.messaging.idempotency import IdempotencyKey, canonical_body

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


def test_a_record_stored_with_numbers_as_written_still_matches_its_repeat() -> None:
    """Records fingerprinted before numbers were read as floats (``1.50`` kept as written)
    are replayed, not refused as conflicts, for the 24 hours they live."""
    line = b"POST /public/v1/templates\n"
    body = b'{"price": 1.50, "name": "a"}'
    stored = hashlib.sha256(line + b'{"name":"a","price":1.50}').hexdigest()
    repeat = IdempotencyKey("k", request_line=line, body=body, content_type=JSON)
    assert repeat.fingerprint != stored
    assert repeat.matches(stored)
    other = IdempotencyKey(
        "k", request_line=line, body=b'{"price": 1.5, "name": "b"}', content_type=JSON
    )
    assert not other.matches(stored)


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
    """A 10 MB body takes a good part of a second to read as JSON: never on the event loop,
    which serves every other request (and the pixel collector) meanwhile."""
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
