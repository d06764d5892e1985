"""Concurrent campaign actions against the real database (SQLite and PostgreSQL): parallel
``/send`` start one run, parallel ``/publish`` publish once, parallel template ``PATCH``es
keep every content key, parallel contact upserts every attribute.

Each test widens the window the server had between reading the campaign's state and writing
what it decided (``slowed``), so that without the campaign lock every thread reads the same
state and the test fails every time rather than now and then."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.messaging.helpers import (
    API,
    make_audience,
    make_campaign,
    make_template,
    post,
    published_campaign,
)
from tests.support import in_parallel, slowed

from beacon.core.db import Database
from beacon.core.timefmt import iso_millis, utcnow
from beacon.messaging.audiences import repository as audience_repository
from beacon.messaging.campaigns import preflight, repository
from beacon.messaging.models import Contact, Execution

THREADS = 6


def _executions(db: Database, campaign_id: str) -> list[Execution]:
    with db.transaction() as session:
        rows = session.scalars(
            select(Execution).where(Execution.campaign_id == uuid.UUID(campaign_id))
        ).all()
        session.expunge_all()
        return list(rows)


def test_parallel_sends_start_exactly_one_run(
    client: TestClient, auth: dict[str, str], db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = published_campaign(client, auth)["campaignId"]
    slowed(monkeypatch, repository, "executions_in")

    responses = in_parallel(lambda: post(client, f"/campaigns/{cid}/send", auth), THREADS)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202] + [409] * (THREADS - 1), [r.text for r in responses]
    accepted = next(r for r in responses if r.status_code == 202).json()["data"]
    for refused in (r for r in responses if r.status_code == 409):
        error = refused.json()["error"]
        assert error["message"] == "An execution is already pending"
        assert error["details"]["executionId"] == accepted["executionId"]
    executions = _executions(db, cid)
    assert [(e.trigger, e.status) for e in executions] == [("send_now", "scheduled")]
    assert f"exec-{executions[0].id}" == accepted["executionId"]


def test_parallel_sends_beside_an_armed_schedule(
    client: TestClient, auth: dict[str, str], db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A future scheduled run does not block ``/send`` (docs/orchestrate.md); still one run."""
    send_at = iso_millis(utcnow() + timedelta(days=2))
    cid = published_campaign(
        client, auth, schedule={"mode": "at", "sendAt": send_at, "timezone": "UTC"}
    )["campaignId"]
    slowed(monkeypatch, repository, "executions_in")

    responses = in_parallel(lambda: post(client, f"/campaigns/{cid}/send", auth), THREADS)

    assert sorted(r.status_code for r in responses) == [202] + [409] * (THREADS - 1)
    active = sorted((e.trigger, e.status) for e in _executions(db, cid))
    assert active == [("schedule", "scheduled"), ("send_now", "scheduled")]


def test_parallel_publishes_publish_once(
    client: TestClient, auth: dict[str, str], db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    segment_id = make_audience(client, auth)
    template_id = make_template(client, auth)
    send_at = iso_millis(utcnow() + timedelta(days=2))
    cid = make_campaign(
        client,
        auth,
        segment_id=segment_id,
        template_id=template_id,
        schedule={"mode": "at", "sendAt": send_at, "timezone": "UTC"},
    )["campaignId"]
    slowed(monkeypatch, preflight, "run_preflight")

    responses = in_parallel(lambda: post(client, f"/campaigns/{cid}/publish", auth), THREADS)

    assert sorted(r.status_code for r in responses) == [200] + [409] * (THREADS - 1), [
        r.text for r in responses
    ]
    for refused in (r for r in responses if r.status_code == 409):
        assert refused.json()["error"]["message"].startswith("Only drafts can be published")
    # one armed schedule, and no run cancelled by a publish that lost the race
    assert [(e.trigger, e.status) for e in _executions(db, cid)] == [("schedule", "scheduled")]


def test_the_database_refuses_a_second_pending_send(
    client: TestClient, auth: dict[str, str], db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind the lock, a unique index: a send whose check read nothing (as a request that
    skipped the lock would) still gets the documented 409, not a second run nor a 500."""
    cid = published_campaign(client, auth)["campaignId"]
    first = post(client, f"/campaigns/{cid}/send", auth)
    assert first.status_code == 202
    monkeypatch.setattr(repository, "executions_in", lambda *args, **kwargs: [])

    second = post(client, f"/campaigns/{cid}/send", auth)

    assert second.status_code == 409, second.text
    error = second.json()["error"]
    assert error["message"] == "An execution is already pending"
    assert error["details"]["executionId"] == first.json()["data"]["executionId"]
    assert len(_executions(db, cid)) == 1


def test_parallel_template_patches_keep_every_content_key(
    client: TestClient, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PATCH merges content key by key: two at once each read the content before the other
    wrote and stored it whole, so one request's key was lost (its 200 said it was set)."""
    template_id = make_template(client, auth)
    slowed(monkeypatch, repository, "get_template")
    keys = ["replyTo", "fromName"]
    values = {"replyTo": "help@example.com", "fromName": "Acme"}
    pending = list(keys)

    def patch() -> Any:
        key = pending.pop()
        return client.patch(
            f"{API}/templates/{template_id}", headers=auth, json={"content": {key: values[key]}}
        )

    responses = in_parallel(patch, len(keys))
    assert [r.status_code for r in responses] == [200, 200]
    content = client.get(f"{API}/templates/{template_id}", headers=auth).json()["data"]["content"]
    assert {key: content.get(key) for key in keys} == values


def test_parallel_contact_upserts_keep_every_attribute(
    client: TestClient, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attributes merge key by key: two upserts of one contact at once each merged into the
    attributes as they were before the other and stored them whole, so one key was lost."""
    one = {"contacts": [{"externalId": "X", "email": "x@example.com", "attributes": {"a": 1}}]}
    assert post(client, "/contacts", auth, one).status_code == 200
    slowed(monkeypatch, audience_repository, "find_contacts")
    pending = ["b", "c"]

    def upsert() -> Any:
        key = pending.pop()
        return post(
            client, "/contacts", auth, {"contacts": [{"externalId": "X", "attributes": {key: 1}}]}
        )

    assert [r.status_code for r in in_parallel(upsert, 2)] == [200, 200]
    listed = client.get(f"{API}/contacts", headers=auth).json()["data"]
    assert [c["attributes"] for c in listed] == [{"a": 1, "b": 1, "c": 1}]


def test_an_unsubscribe_during_an_upsert_of_the_contact_stays(
    client: TestClient, auth: dict[str, str], db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upsert writes back the whole row it read, subscriptions included: an unsubscribe
    (or a bounce) committed between its read and its write was undone, and the contact got
    email again."""
    one = {"contacts": [{"externalId": "X", "email": "x@example.com"}]}
    assert post(client, "/contacts", auth, one).status_code == 200
    with db.transaction() as session:
        token = session.scalars(select(Contact.unsubscribe_token)).one()
    slowed(monkeypatch, audience_repository, "find_contacts", seconds=0.3)
    calls = iter(["upsert", "unsubscribe"])

    def call() -> Any:
        if next(calls) == "upsert":
            body = {"contacts": [{"externalId": "X", "firstName": "Ann"}]}
            return post(client, "/contacts", auth, body)
        time.sleep(0.1)  # once the upsert has read the contact
        return client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})

    assert sorted(r.status_code for r in in_parallel(call, 2)) == [200, 200]
    listed = client.get(f"{API}/contacts", headers=auth).json()["data"]
    assert [(c["firstName"], c["subscriptions"]["email"]) for c in listed] == [
        ("Ann", "unsubscribed")
    ]
