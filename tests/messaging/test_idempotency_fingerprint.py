"""What an Idempotency-Key's fingerprint reads of a body."""

from __future__ import annotations

from beacon.messaging.idempotency import canonical_body

JSON = "application/json"


def test_spacing_and_key_order_do_not_change_a_json_body() -> None:
    assert canonical_body(b'{"b": [1, {"y": 2, "x": 3}], "a": null}', JSON) == canonical_body(
        b'{"a":null,"b":[1,{"x":3,"y":2}]}', "application/json; charset=utf-8"
    )


def test_numbers_keep_their_text() -> None:
    # as floats both would be inf, and two different requests one fingerprint
    assert canonical_body(b'{"n": 1e400}', JSON) != canonical_body(b'{"n": 2e400}', JSON)
    assert canonical_body(b'{"n": 1}', JSON) != canonical_body(b'{"n": 1.0}', JSON)
    # a number is not the string of its digits
    assert canonical_body(b'{"n": 1}', JSON) != canonical_body(b'{"n": "1"}', JSON)


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
