"""Concurrent repeats of an ``Idempotency-Key`` against the real database (SQLite and
PostgreSQL): one object is created, every repeat answers what the first request did (its
replay, or 409 ``IDEMPOTENCY_CONFLICT`` for another body), never a 500.

The tests widen the window between reading the stored response and storing a new one
(``slowed``), so that without the key's lock every thread finds no response and runs."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.messaging.helpers import API, post, published_campaign
from tests.support import in_parallel, slowed

from beacon.core.db import Database
from beacon.messaging import idempotency, idempotency_repository
from beacon.messaging.models import IdempotencyRecord, Template

THREADS = 6


def _template_body() -> dict[str, Any]:
    return {
        "name": "Welcome",
        "channel": "sms",
        "status": "published",
        "content": {"body": "Hi {{ contact.firstName }}! Reply STOP to opt out"},
    }


def test_parallel_repeats_of_a_key_create_once_and_replay(
    client: TestClient, auth: dict[str, str], db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    slowed(monkeypatch, idempotency_repository, "record_for")
    keyed = {**auth, "Idempotency-Key": "k1"}

    responses = in_parallel(lambda: post(client, "/templates", keyed, _template_body()), n=8)

    assert [r.status_code for r in responses] == [201] * 8, [r.text for r in responses]
    first = [r for r in responses if r.headers.get("Idempotent-Replayed") is None]
    assert len(first) == 1
    for replay in responses:
        assert replay.json() == first[0].json()
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 7
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Template)) == 1
        assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 1


def test_parallel_repeats_with_another_body_conflict(
    client: TestClient, auth: dict[str, str], db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same key with two bodies at once: one creates, the other is 409, never a 500."""
    slowed(monkeypatch, idempotency_repository, "record_for")
    keyed = {**auth, "Idempotency-Key": "k2"}
    bodies = iter([{**_template_body(), "name": f"Welcome {i}"} for i in range(THREADS)])

    responses = in_parallel(lambda: post(client, "/templates", keyed, next(bodies)), THREADS)

    assert sorted(r.status_code for r in responses) == [201] + [409] * (THREADS - 1)
    for refused in (r for r in responses if r.status_code == 409):
        assert refused.json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Template)) == 1


def test_a_repeat_after_a_failed_first_request_runs_again(
    client: TestClient, auth: dict[str, str], db: Database
) -> None:
    """Only successes are stored: after a 409 the key is free, and the retry is not a replay."""
    cid = published_campaign(client, auth)["campaignId"]
    keyed = {**auth, "Idempotency-Key": "send-again"}
    assert post(client, f"/campaigns/{cid}/send", auth).status_code == 202
    assert post(client, f"/campaigns/{cid}/send", keyed).status_code == 409
    assert post(client, f"/campaigns/{cid}/cancel", auth).status_code == 200
    retried = post(client, f"/campaigns/{cid}/send", keyed)
    assert retried.status_code == 202 and retried.headers.get("Idempotent-Replayed") is None
    replayed = client.post(f"{API}/campaigns/{cid}/send", headers=keyed, json={})
    assert replayed.status_code == 202 and replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == retried.json()


def test_a_repeat_waits_a_bounded_time_for_the_first_request(
    client: TestClient, auth: dict[str, str], db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: a repeat that finds its key's first request still running after the wait is
    a 409 IDEMPOTENCY_IN_PROGRESS with Retry-After, having created nothing; its retry once the
    first is done is the replay. (SQLite's wait is the database's busy timeout.)"""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the bounded wait is PostgreSQL's advisory lock; SQLite waits busy_timeout")
    monkeypatch.setattr(idempotency, "IN_PROGRESS_WAIT_SECONDS", 0.3)
    slowed(monkeypatch, idempotency_repository, "record_for", seconds=1.5)
    keyed = {**auth, "Idempotency-Key": "slow-first"}

    responses = in_parallel(lambda: post(client, "/templates", keyed, _template_body()), n=2)

    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    first = next(r for r in responses if r.status_code == 201)
    waited = next(r for r in responses if r.status_code == 409)
    assert waited.json()["error"]["code"] == "IDEMPOTENCY_IN_PROGRESS"
    assert waited.headers["Retry-After"] == "1"
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Template)) == 1
    retried = post(client, "/templates", keyed, _template_body())
    assert retried.status_code == 201 and retried.headers["Idempotent-Replayed"] == "true"
    assert retried.json() == first.json()
