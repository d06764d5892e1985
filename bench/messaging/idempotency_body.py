"""Cost of fingerprinting an ``Idempotency-Key`` request's JSON body, the canonical form that
compares a repeat by what it asks for (``messaging.idempotency.canonical_body``) against the
form records stored until 2026-12 have (numbers kept as written, ``_number_text_canonical``).

    .venv/bin/python bench/messaging/idempotency_body.py [--contacts 65000] [--rounds 5]

A contacts upsert of N contacts (65,000 is ~9.6 MB, near the 10 MB body limit); the two forms
are timed alternately, round after round, so machine load weighs on both alike. Prints the
body size and each form's best and median CPU seconds (``time.process_time``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

from beacon.messaging import idempotency

JSON = "application/json"


def _body(contacts: int) -> bytes:
    rows = [
        {
            "externalId": str(i),
            "email": f"user{i}@example.com",
            "firstName": "Ann",
            "attributes": {"plan": "gold", "score": i * 0.5, "tags": [1, 2, 3]},
        }
        for i in range(contacts)
    ]
    return json.dumps({"contacts": rows}).encode()


def _cpu(read: Callable[[bytes, str], bytes], body: bytes) -> float:
    started = time.process_time()
    read(body, JSON)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=65_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    body = _body(args.contacts)
    forms = {
        "canonical_body (json C code)": idempotency.canonical_body,
        "numbers as written (until 2026-12)": idempotency._number_text_canonical,
    }
    times: dict[str, list[float]] = {name: [] for name in forms}
    for _ in range(args.rounds):
        for name, read in forms.items():
            times[name].append(_cpu(read, body))
    print(f"body: {len(body):,} bytes, {args.contacts:,} contacts, {args.rounds} rounds")
    for name, seconds in times.items():
        print(f"{name}: best {min(seconds):.3f} s, median {statistics.median(seconds):.3f} s CPU")


if __name__ == "__main__":
    main()
