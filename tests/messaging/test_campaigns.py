"""Campaign authoring, actions, 409s, isolation between accounts and idempotency."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from tests.messaging.helpers import (
    API,
    make_audience,
    make_campaign,
    make_template,
    post,
    published_campaign,
)

from beacon.core.db import Database
from beacon.core.timefmt import iso_millis, utcnow
from beacon.messaging.campaigns import service as campaign_service
from beacon.messaging.models import Campaign, Execution

MISSING = "4130bada-9264-465f-bc0c-a26bebcfcc81"


def _set_type(db: Database, campaign_id: str, campaign_type: str) -> None:
    with db.transaction() as session:
        session.execute(
            update(Campaign)
            .where(Campaign.id == uuid.UUID(campaign_id))
            .values(campaign_type=campaign_type)
        )


def test_create_get_patch_archive(client: TestClient, auth: dict[str, str]) -> None:
    send_at = iso_millis(utcnow() + timedelta(days=3))
    campaign = make_campaign(
        client, auth, schedule={"mode": "at", "sendAt": send_at, "timezone": "America/New_York"}
    )
    cid = campaign["campaignId"]
    assert campaign["authoringStatus"] == "draft" and campaign["campaignType"] == "broadcast"
    assert campaign["schedule"] == {"mode": "at", "sendAt": send_at, "timezone": "America/New_York"}
    assert campaign["createdAt"].endswith("Z") and len(campaign["createdAt"]) == 24
    got = client.get(f"{API}/campaigns/{cid}", headers=auth).json()["data"]
    assert got == campaign
    patched = client.patch(f"{API}/campaigns/{cid}", headers=auth, json={"name": "Renamed"})
    assert patched.status_code == 200 and patched.json()["data"]["name"] == "Renamed"
    archived = client.delete(f"{API}/campaigns/{cid}", headers=auth)
    assert archived.status_code == 200 and archived.json()["data"]["authoringStatus"] == "archived"
    refused = client.patch(f"{API}/campaigns/{cid}", headers=auth, json={"name": "x"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "CONFLICT"
    assert client.delete(f"{API}/campaigns/{cid}", headers=auth).status_code == 409
    listed = client.get(f"{API}/campaigns?status=archived", headers=auth).json()
    assert [c["campaignId"] for c in listed["data"]] == [cid]


def test_list_filters_sorting_and_pagination(client: TestClient, auth: dict[str, str]) -> None:
    for name, channel in (("b", "email"), ("a", "sms"), ("c", "email")):
        make_campaign(client, auth, name=name, channel=channel)
    make_campaign(client, auth, name="t", channel="sms", campaignType="triggered")
    by_name = client.get(
        f"{API}/campaigns?sortBy=name&sortDirection=asc&limit=2", headers=auth
    ).json()
    assert [c["name"] for c in by_name["data"]] == ["a", "b"]
    assert by_name["pagination"] == {"total": 4, "limit": 2, "offset": 0}
    second = client.get(
        f"{API}/campaigns?sortBy=name&sortDirection=asc&limit=2&offset=2", headers=auth
    )
    assert [c["name"] for c in second.json()["data"]] == ["c", "t"]
    emails = client.get(f"{API}/campaigns?channel=email", headers=auth).json()
    assert emails["pagination"]["total"] == 2
    triggered = client.get(f"{API}/campaigns?campaignType=triggered", headers=auth).json()
    assert [c["name"] for c in triggered["data"]] == ["t"]
    assert client.get(f"{API}/campaigns?status=published", headers=auth).json()["data"] == []


def test_invalid_values_are_422_naming_the_field(client: TestClient, auth: dict[str, str]) -> None:
    cases = [
        (
            {"name": "x", "channel": "email", "schedule": {"mode": "at", "timezone": "UTC"}},
            "schedule",
        ),
        (
            {"name": "x", "channel": "email", "schedule": {"mode": "now", "timezone": "Mars/Base"}},
            "schedule.timezone",
        ),
        (
            {"name": "x", "channel": "email", "audience": {"included": [MISSING]}},
            "audience.included[0]",
        ),
        ({"name": "x", "channel": "email", "templateId": MISSING}, "templateId"),
        ({"name": "x", "channel": "email", "campaignType": "burst"}, "campaignType"),
        ({"name": " ", "channel": "email"}, "name"),
    ]
    for body, field in cases:
        response = post(client, "/campaigns", auth, body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
        assert f"'{field}'" in response.json()["error"]["message"]


def test_template_channel_must_match(client: TestClient, auth: dict[str, str]) -> None:
    sms_template = make_template(client, auth, channel="sms")
    response = post(
        client, "/campaigns", auth, {"name": "x", "channel": "email", "templateId": sms_template}
    )
    assert response.status_code == 422 and "'templateId'" in response.json()["error"]["message"]


def test_preflight_reports_each_check_and_blocks_publish(
    client: TestClient, auth: dict[str, str]
) -> None:
    campaign = make_campaign(client, auth, channel="sms")
    cid = campaign["campaignId"]
    summary = client.get(f"{API}/campaigns/{cid}/summary", headers=auth).json()["data"]
    assert summary["preflight"] == {"status": "not_evaluated", "checks": []}
    assert summary["content"] == {"template": None, "proofStatus": "unavailable"}
    assert summary["audience"]["reach"]["status"] == "not_evaluated"
    result = post(client, f"/campaigns/{cid}/preflight", auth).json()["data"]
    assert result["status"] == "failed"
    failed = {c["id"] for c in result["checks"] if c["status"] == "failed"}
    assert {"audience_reach", "template_published", "opt_out"} <= failed
    refused = post(client, f"/campaigns/{cid}/publish", auth)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "PREFLIGHT_FAILED"
    assert {c["id"] for c in refused.json()["error"]["details"]["checks"]} == failed
    shown = client.get(f"{API}/campaigns/{cid}/summary", headers=auth).json()["data"]["preflight"]
    assert shown["status"] == "failed"


def test_preflight_passes_for_a_ready_email_campaign(
    client: TestClient, auth: dict[str, str]
) -> None:
    segment = make_audience(client, auth)
    template = make_template(client, auth)
    campaign = make_campaign(client, auth, segment_id=segment, template_id=template)
    result = post(client, f"/campaigns/{campaign['campaignId']}/preflight", auth).json()["data"]
    statuses = {c["id"]: c["status"] for c in result["checks"]}
    assert statuses == {
        "audience_reach": "passed",
        "template_published": "passed",
        "template_renders": "passed",
        "sender": "passed",
        "unsubscribe_link": "passed",
        "schedule": "passed",
        "delivery_provider": "warning",  # no BEACON_SMTP_URL: the outbox
    }
    assert result["status"] == "warning"
    summary = client.get(f"{API}/campaigns/{campaign['campaignId']}/summary", headers=auth).json()[
        "data"
    ]
    assert summary["content"]["proofStatus"] == "rendered"
    assert summary["audience"]["reach"]["evaluatedCount"] == 3
    assert summary["audience"]["included"][0]["memberCount"] is None


def test_a_template_change_makes_the_preflight_not_evaluated(
    client: TestClient, auth: dict[str, str]
) -> None:
    segment = make_audience(client, auth)
    template = make_template(client, auth)
    other = make_template(client, auth)
    campaign = make_campaign(client, auth, segment_id=segment, template_id=template)
    cid = campaign["campaignId"]
    assert post(client, f"/campaigns/{cid}/preflight", auth).status_code == 200

    def preflight() -> str:
        summary = client.get(f"{API}/campaigns/{cid}/summary", headers=auth).json()["data"]
        return str(summary["preflight"]["status"])

    assert preflight() == "warning"
    client.patch(f"{API}/templates/{other}", headers=auth, json={"name": "Another"})
    assert preflight() == "warning"  # another template: this campaign's result stands
    unpublished = client.patch(
        f"{API}/templates/{template}", headers=auth, json={"status": "draft"}
    )
    assert unpublished.status_code == 200, unpublished.text
    assert preflight() == "not_evaluated"  # it said "template_published: passed"
    result = post(client, f"/campaigns/{cid}/preflight", auth).json()["data"]
    assert {c["id"]: c["status"] for c in result["checks"]}["template_published"] == "failed"


def test_actions_and_their_conflicts(
    client: TestClient, auth: dict[str, str], db: Database
) -> None:
    campaign = published_campaign(client, auth)
    cid = campaign["campaignId"]
    assert campaign["authoringStatus"] == "published"
    assert post(client, f"/campaigns/{cid}/publish", auth).status_code == 409
    assert (
        client.patch(f"{API}/campaigns/{cid}", headers=auth, json={"name": "x"}).status_code == 409
    )
    assert client.delete(f"{API}/campaigns/{cid}/schedule", headers=auth).status_code == 409
    assert post(client, f"/campaigns/{cid}/cancel", auth).status_code == 409

    send_at = utcnow() + timedelta(hours=2)
    scheduled = post(client, f"/campaigns/{cid}/schedule", auth, {"sendAt": iso_millis(send_at)})
    assert scheduled.status_code == 201, scheduled.text
    status = client.get(f"{API}/campaigns/{cid}/status", headers=auth).json()["data"]
    assert status["execution"]["state"] == "scheduled"
    assert status["schedule"]["active"] is True and status["schedule"]["scheduleId"].startswith(
        "sch-"
    )
    past = post(client, f"/campaigns/{cid}/schedule", auth, {"sendAt": "2020-01-01T00:00:00Z"})
    assert past.status_code == 422 and "'sendAt'" in past.json()["error"]["message"]
    unscheduled = client.delete(f"{API}/campaigns/{cid}/schedule", headers=auth)
    assert unscheduled.status_code == 200
    assert unscheduled.json()["data"]["execution"]["state"] == "not_scheduled"

    sent = post(client, f"/campaigns/{cid}/send", auth)
    assert sent.status_code == 202 and sent.json()["data"]["status"] == "scheduled"
    execution_id = sent.json()["data"]["executionId"]
    again = post(client, f"/campaigns/{cid}/send", auth)
    assert again.status_code == 409 and again.json()["error"]["code"] == "CONFLICT"
    state = client.get(f"{API}/campaigns/{cid}/status", headers=auth).json()["data"]["execution"]
    assert state["state"] == "pending_or_overdue"
    with db.transaction() as session:
        session.execute(
            update(Execution)
            .where(Execution.id == uuid.UUID(execution_id.removeprefix("exec-")))
            .values(status="running", started_at=utcnow())
        )
    assert client.delete(f"{API}/campaigns/{cid}", headers=auth).status_code == 409
    cancelled = post(client, f"/campaigns/{cid}/cancel", auth)
    assert cancelled.status_code == 200
    one = client.get(f"{API}/campaigns/{cid}/executions/{execution_id}", headers=auth).json()[
        "data"
    ]
    assert one["cancelRequestedAt"] is not None
    listed = client.get(f"{API}/campaigns/{cid}/executions?limit=1", headers=auth).json()
    assert listed["pagination"] == {"total": 2, "limit": 1, "offset": 0}
    bare = execution_id.removeprefix("exec-")
    assert client.get(f"{API}/campaigns/{cid}/executions/{bare}", headers=auth).status_code == 200
    assert client.get(f"{API}/campaigns/{cid}/executions/nope", headers=auth).status_code == 400
    assert (
        client.get(f"{API}/campaigns/{cid}/executions/exec-{MISSING}", headers=auth).status_code
        == 404
    )


def test_scheduling_keeps_a_run_sent_now(client: TestClient, auth: dict[str, str]) -> None:
    """A schedule armed after POST /send replaces the armed schedule, not the run sent now
    (it cancelled that run: the 202'd send never went out)."""
    cid = published_campaign(client, auth)["campaignId"]
    sent = post(client, f"/campaigns/{cid}/send", auth)
    assert sent.status_code == 202, sent.text
    first = post(
        client,
        f"/campaigns/{cid}/schedule",
        auth,
        {"sendAt": iso_millis(utcnow() + timedelta(hours=2))},
    )
    second = post(
        client,
        f"/campaigns/{cid}/schedule",
        auth,
        {"sendAt": iso_millis(utcnow() + timedelta(hours=3))},
    )
    assert first.status_code == second.status_code == 201, second.text
    statuses = {
        run["executionId"]: run["status"]
        for run in client.get(f"{API}/campaigns/{cid}/executions", headers=auth).json()["data"]
    }
    assert statuses == {
        sent.json()["data"]["executionId"]: "scheduled",
        first.json()["data"]["executionId"]: "cancelled",
        second.json()["data"]["executionId"]: "scheduled",
    }


def test_a_second_cancel_keeps_when_the_run_was_asked_to_stop(
    client: TestClient, auth: dict[str, str], db: Database
) -> None:
    """A repeated cancel of a running run moved its cancelRequestedAt to the repeat's time."""
    cid = published_campaign(client, auth)["campaignId"]
    execution_id = post(client, f"/campaigns/{cid}/send", auth).json()["data"]["executionId"]
    with db.transaction() as session:
        session.execute(
            update(Execution)
            .where(Execution.id == uuid.UUID(execution_id.removeprefix("exec-")))
            .values(status="running", started_at=utcnow())
        )
    path = f"{API}/campaigns/{cid}/executions/{execution_id}"
    assert post(client, f"/campaigns/{cid}/cancel", auth).status_code == 200
    first = client.get(path, headers=auth).json()["data"]["cancelRequestedAt"]
    assert first is not None
    assert post(client, f"/campaigns/{cid}/cancel", auth).status_code == 200
    assert client.get(path, headers=auth).json()["data"]["cancelRequestedAt"] == first


def test_a_send_time_is_never_silently_ignored(client: TestClient, auth: dict[str, str]) -> None:
    """A schedule with a sendAt and no mode was stored as mode 'now' beside that sendAt: shown
    in /summary and /status, never armed by publishing, so the campaign never sent."""
    send_at = iso_millis(utcnow() + timedelta(hours=3))
    campaign = published_campaign(client, auth, schedule={"sendAt": send_at, "timezone": "UTC"})
    assert campaign["schedule"] == {"mode": "at", "sendAt": send_at, "timezone": "UTC"}
    summary, status = _schedules(client, auth, campaign["campaignId"])
    assert summary["scheduled"] is True and status["active"] is True
    contradiction = {"mode": "now", "sendAt": send_at}
    refused = post(
        client, "/campaigns", auth, {"name": "x", "channel": "email", "schedule": contradiction}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["message"].startswith("Invalid value for 'schedule'")
    draft = make_campaign(client, auth)
    patched = client.patch(
        f"{API}/campaigns/{draft['campaignId']}", headers=auth, json={"schedule": contradiction}
    )
    assert patched.status_code == 422, patched.text
    cleared = {"mode": "now", "sendAt": None}
    assert (
        post(
            client, "/campaigns", auth, {"name": "y", "channel": "email", "schedule": cleared}
        ).status_code
        == 201
    )


def test_a_send_time_that_passes_while_publishing_still_sends(
    client: TestClient, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Preflight passed a sendAt still ahead; by the time the draft was marked published it had
    passed, and publishing armed no run: the campaign was published and never sent."""
    send_at = utcnow() + timedelta(hours=3)
    later = send_at + timedelta(milliseconds=1)
    monkeypatch.setattr(campaign_service, "utcnow", lambda: later)
    campaign = published_campaign(
        client, auth, schedule={"mode": "at", "sendAt": iso_millis(send_at), "timezone": "UTC"}
    )
    runs = client.get(f"{API}/campaigns/{campaign['campaignId']}/executions", headers=auth)
    assert [(r["status"], r["trigger"]) for r in runs.json()["data"]] == [("scheduled", "schedule")]


def _schedules(client: TestClient, auth: dict[str, str], cid: str) -> tuple[Any, Any]:
    summary = client.get(f"{API}/campaigns/{cid}/summary", headers=auth).json()["data"]
    status = client.get(f"{API}/campaigns/{cid}/status", headers=auth).json()["data"]
    return summary["schedule"], status["schedule"]


def test_summary_and_status_agree_on_the_schedule(client: TestClient, auth: dict[str, str]) -> None:
    send_at = iso_millis(utcnow() + timedelta(hours=3))
    campaign = published_campaign(
        client, auth, schedule={"mode": "at", "sendAt": send_at, "timezone": "UTC"}
    )
    cid = campaign["campaignId"]
    summary, status = _schedules(client, auth, cid)
    assert summary["scheduled"] is True and status["active"] is True
    assert summary["sendAt"] == status["sendAt"] == send_at

    assert client.delete(f"{API}/campaigns/{cid}/schedule", headers=auth).status_code == 200
    summary, status = _schedules(client, auth, cid)
    assert summary == {"mode": "now", "sendAt": None, "timezone": "UTC", "scheduled": False}
    assert status == {"scheduleId": None, "sendAt": None, "timezone": "UTC", "active": False}

    # scheduled again, then the run is cancelled: neither view keeps a dead schedule alive
    later = iso_millis(utcnow() + timedelta(hours=5))
    assert post(client, f"/campaigns/{cid}/schedule", auth, {"sendAt": later}).status_code == 201
    assert post(client, f"/campaigns/{cid}/cancel", auth).status_code == 200
    summary, status = _schedules(client, auth, cid)
    assert summary["scheduled"] is False and status["active"] is False


def test_unsupported_campaign_types_are_409(
    client: TestClient, auth: dict[str, str], db: Database
) -> None:
    campaign = make_campaign(client, auth, campaignType="journey")
    cid = campaign["campaignId"]
    summary = client.get(f"{API}/campaigns/{cid}/summary", headers=auth)
    assert summary.status_code == 409
    assert summary.json()["error"]["code"] == "SUMMARY_TYPE_UNSUPPORTED"
    assert summary.json()["error"]["details"] == {"campaignType": "journey"}
    for method, path in (
        ("GET", "status"),
        ("GET", "metrics"),
        ("GET", "executions"),
        ("POST", "preflight"),
        ("POST", "publish"),
        ("POST", "send"),
        ("POST", "cancel"),
        ("DELETE", "schedule"),
    ):
        response = client.request(method, f"{API}/campaigns/{cid}/{path}", headers=auth)
        assert response.status_code == 409, path
        assert response.json()["error"] == {
            "code": "TYPE_UNSUPPORTED",
            "message": "The public v1 API does not support this operation for 'journey' campaigns",
            "details": {"campaignType": "journey"},
        }
    assert client.get(f"{API}/campaigns/{cid}", headers=auth).status_code == 200


def test_accounts_are_isolated(
    client: TestClient, token_for: Callable[..., dict[str, str]]
) -> None:
    acme, other = token_for("acme"), token_for("other")
    campaign = make_campaign(client, acme)
    cid = campaign["campaignId"]
    for method, path in (
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("GET", "/summary"),
        ("GET", "/status"),
        ("GET", "/metrics"),
        ("POST", "/send"),
        ("GET", "/executions"),
    ):
        foreign = client.request(method, f"{API}/campaigns/{cid}{path}", headers=other, json={})
        missing = client.request(method, f"{API}/campaigns/{MISSING}{path}", headers=other, json={})
        assert foreign.status_code == missing.status_code == 404, path
        assert foreign.json()["error"]["code"] == "NOT_FOUND"
        assert foreign.json()["error"]["message"] == f"Campaign with ID {cid} not found"
    assert client.get(f"{API}/campaigns", headers=other).json()["pagination"]["total"] == 0
    segment = make_audience(client, acme)
    assert client.get(f"{API}/segments/{segment}", headers=other).status_code == 404
    stolen = post(
        client,
        "/campaigns",
        other,
        {"name": "x", "channel": "email", "audience": {"included": [segment]}},
    )
    assert stolen.status_code == 422
    assert client.get(f"{API}/contacts", headers=other).json()["data"] == []


def test_idempotent_posts(
    client: TestClient, auth: dict[str, str], token_for: Callable[..., dict[str, str]]
) -> None:
    keyed = {**auth, "Idempotency-Key": "create-1"}
    body = {"name": "Once", "channel": "email"}
    first = post(client, "/campaigns", keyed, body)
    second = post(client, "/campaigns", keyed, body)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert client.get(f"{API}/campaigns", headers=auth).json()["pagination"]["total"] == 1
    different = post(client, "/campaigns", keyed, {"name": "Twice", "channel": "email"})
    assert different.status_code == 409
    assert different.json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    # keys belong to an account
    elsewhere = post(
        client, "/campaigns", {**token_for("other"), "Idempotency-Key": "create-1"}, body
    )
    assert elsewhere.status_code == 201
    assert elsewhere.json()["data"]["campaignId"] != first.json()["data"]["campaignId"]
    # a failed request stores nothing: the key can be retried
    failing = {**auth, "Idempotency-Key": "send-1"}
    cid = first.json()["data"]["campaignId"]
    assert post(client, f"/campaigns/{cid}/send", failing).status_code == 409
    assert post(client, f"/campaigns/{cid}/send", failing).status_code == 409


def test_only_names_of_the_iana_database_are_timezones(
    client: TestClient, auth: dict[str, str]
) -> None:
    # zoneinfo opens 'localtime' (the server's own zone, so the send time followed the
    # server's settings) and 'Factory', and they passed as timezone names
    for name in ("localtime", "Factory", "posixrules", "posix/America/New_York", "right/UTC"):
        body = {"name": "x", "channel": "email", "schedule": {"mode": "now", "timezone": name}}
        response = post(client, "/campaigns", auth, body)
        assert response.status_code == 422, (name, response.text)
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
        assert "'schedule.timezone'" in response.json()["error"]["message"]
    # legacy aliases are the database's names too: clients and stored campaigns use them
    for name in ("America/New_York", "UTC", "Etc/GMT+5", "Asia/Kolkata", "EST", "GMT", "Zulu"):
        body = {"name": name, "channel": "email", "schedule": {"mode": "now", "timezone": name}}
        response = post(client, "/campaigns", auth, body)
        assert response.status_code == 201, (name, response.text)
        assert response.json()["data"]["schedule"]["timezone"] == name


def test_a_segment_listed_twice_in_an_audience_is_kept_once(
    client: TestClient, auth: dict[str, str]
) -> None:
    """A segment repeated in `audience.included` (or `excluded`) was stored and shown twice;
    now it is kept once, at its first place, as `contactIds` of a static segment are."""
    first = make_audience(client, auth)
    second, third = (
        post(client, "/segments", auth, {"name": name, "rules": rules}).json()["data"]["id"]
        for name, rules in (
            ("free", {"field": "attributes.plan", "op": "equals", "value": "free"}),
            ("low", {"field": "attributes.score", "op": "lt", "value": 5}),
        )
    )
    audience = {"included": [second, first, second, first], "excluded": [third, third]}
    campaign = make_campaign(client, auth, audience=audience)
    assert campaign["audience"] == {"included": [second, first], "excluded": [third]}
    url = f"{API}/campaigns/{campaign['campaignId']}"
    summary = client.get(f"{url}/summary", headers=auth).json()["data"]["audience"]
    assert [ref["id"] for ref in summary["included"]] == [second, first]
    assert [ref["id"] for ref in summary["excluded"]] == [third]
    again = {"audience": {"included": [first, first, second], "excluded": []}}
    patched = client.patch(url, headers=auth, json=again)
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["audience"] == {"included": [first, second], "excluded": []}
    assert client.get(url, headers=auth).json()["data"]["audience"]["included"] == [first, second]


def test_a_repeat_of_the_same_json_respaced_or_reordered_is_replayed(
    client: TestClient, auth: dict[str, str]
) -> None:
    # the fingerprint was of the raw bytes: a client that re-serialised its request on retry
    # (another library, another key order) got 409 IDEMPOTENCY_CONFLICT for the same request
    keyed = {**auth, "Idempotency-Key": "respaced-1", "Content-Type": "application/json"}
    first = client.post(
        f"{API}/campaigns", headers=keyed, content=b'{"name":"Once","channel":"email"}'
    )
    again = client.post(
        f"{API}/campaigns",
        headers=keyed,
        content=b'{\n  "channel": "email",\n  "name": "Once"\n}',
    )
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    # an escaped letter is the same string
    escaped = client.post(
        f"{API}/campaigns", headers=keyed, content=b'{"name":"\\u004fnce","channel":"email"}'
    )
    assert escaped.status_code == 201
    assert escaped.headers["idempotent-replayed"] == "true"
    # what differs is still a conflict
    other = client.post(
        f"{API}/campaigns", headers=keyed, content=b'{"name":"Once ","channel":"email"}'
    )
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    assert client.get(f"{API}/campaigns", headers=auth).json()["pagination"]["total"] == 1


def test_a_send_time_past_the_range_in_utc_is_refused(
    client: TestClient, auth: dict[str, str]
) -> None:
    """A naive sendAt was range-checked by its local calendar day before its timezone was
    applied: 2999-12-31T23:30 in Los Angeles (3000-01-01T07:30Z) was stored and scheduled."""
    late = {"mode": "at", "sendAt": "2999-12-31T23:30:00", "timezone": "America/Los_Angeles"}
    body = {"name": "late", "channel": "email", "schedule": late}
    refused = post(client, "/campaigns", auth, body)
    assert refused.status_code == 422, refused.text
    message = refused.json()["error"]["message"]
    assert message == (
        "Invalid value for 'schedule.sendAt': 2999-12-31T23:30:00 in America/Los_Angeles is "
        "3000-01-01T07:30:00.000Z: expected a date from 1970-01-01 to 2999-12-31 (in UTC)"
    )
    # the same wall-clock time east of UTC is still 2999-12-31 there: accepted
    east = {**late, "timezone": "Pacific/Kiritimati"}
    made = post(client, "/campaigns", auth, {**body, "schedule": east})
    assert made.status_code == 201, made.text
    assert made.json()["data"]["schedule"]["sendAt"] == "2999-12-31T09:30:00.000Z"

    cid = published_campaign(client, auth)["campaignId"]
    path = f"/campaigns/{cid}/schedule"
    for send_at, timezone in (
        ("2999-12-31T23:30:00", "America/Los_Angeles"),
        ("2999-12-31T12:00:00", "Etc/GMT+12"),  # -12:00: exactly 3000-01-01T00:00Z
        ("2999-12-31T12:00:00-12:00", None),
        ("3000-01-01T14:00:00+14:00", None),
    ):
        response = post(client, path, auth, {"sendAt": send_at, "timezone": timezone})
        assert response.status_code == 422, (send_at, response.text)
        assert response.json()["error"]["message"].startswith("Invalid value for 'sendAt': ")
        assert (
            "expected a date from 1970-01-01 to 2999-12-31" in response.json()["error"]["message"]
        )
    for send_at, timezone in (
        ("2999-12-31T11:59:59", "Etc/GMT+12"),
        ("2999-12-31T11:59:59-12:00", None),
        ("3000-01-01T13:59:59+14:00", None),  # 2999-12-31T23:59:59Z
    ):
        response = post(client, path, auth, {"sendAt": send_at, "timezone": timezone})
        assert response.status_code == 201, (send_at, response.text)
        assert response.json()["data"]["scheduledFor"] == "2999-12-31T23:59:59.000Z"


# Naive send times at the ends of Python's years and of the accepted range, in the zones
# furthest east (+14) and far west (-11) of UTC: each is refused as written or in UTC.
OUT_OF_RANGE = "expected a date from 1970-01-01 to 2999-12-31"
EDGE_SEND_TIMES = (
    # out of range as written, before the zone is applied (a conversion could overflow)
    ("0001-01-01T00:00:00", "Pacific/Kiritimati", OUT_OF_RANGE),
    ("0001-01-01T00:00:00", "Pacific/Pago_Pago", OUT_OF_RANGE),
    ("9999-12-31T23:59:59", "Pacific/Kiritimati", OUT_OF_RANGE),
    ("9999-12-31T23:59:59", "Pacific/Pago_Pago", OUT_OF_RANGE),
    # in range in UTC (2999-12-31T10:00Z, 1970-01-01T07:00Z) but not as written
    ("3000-01-01T00:00:00", "Pacific/Kiritimati", OUT_OF_RANGE),
    ("1969-12-31T20:00:00", "Pacific/Pago_Pago", OUT_OF_RANGE),
    # in range as written, not in UTC
    (
        "2999-12-31T23:30:00",
        "Pacific/Pago_Pago",
        "2999-12-31T23:30:00 in Pacific/Pago_Pago is 3000-01-01T10:30:00.000Z: "
        f"{OUT_OF_RANGE} (in UTC)",
    ),
    (
        "1970-01-01T00:00:00",
        "Etc/GMT-14",
        f"1970-01-01T00:00:00 in Etc/GMT-14 is 1969-12-31T10:00:00.000Z: {OUT_OF_RANGE} (in UTC)",
    ),
)


@pytest.mark.parametrize(("send_at", "timezone", "problem"), EDGE_SEND_TIMES)
def test_a_naive_send_time_out_of_range_is_a_422_naming_the_field(
    client: TestClient, auth: dict[str, str], send_at: str, timezone: str, problem: str
) -> None:
    """Create, update and schedule refuse it in the envelope, naming sendAt; nothing is kept."""
    schedule = {"mode": "at", "sendAt": send_at, "timezone": timezone}
    draft = make_campaign(client, auth)
    cid = draft["campaignId"]
    created = post(
        client, "/campaigns", auth, {"name": "e", "channel": "email", "schedule": schedule}
    )
    updated = client.patch(f"{API}/campaigns/{cid}", headers=auth, json={"schedule": schedule})
    for response in (created, updated):
        assert response.status_code == 422, response.text
        assert response.json() == {
            "success": False,
            "error": {
                "code": "VALIDATION_ERROR",
                "message": f"Invalid value for 'schedule.sendAt': {problem}",
                "details": {"field": "schedule.sendAt"},
            },
        }
    kept = client.get(f"{API}/campaigns/{cid}", headers=auth).json()["data"]["schedule"]
    assert kept == draft["schedule"]

    published = published_campaign(client, auth)["campaignId"]
    body = {"sendAt": send_at, "timezone": timezone}
    scheduled = post(client, f"/campaigns/{published}/schedule", auth, body)
    assert scheduled.status_code == 422, scheduled.text
    error = scheduled.json()["error"]
    assert error["message"] == f"Invalid value for 'sendAt': {problem}"
    status = client.get(f"{API}/campaigns/{published}/status", headers=auth)
    assert status.json()["data"]["schedule"]["active"] is False


@pytest.mark.parametrize(
    ("send_at", "timezone", "utc"),
    (
        ("2999-12-31T23:30:00", "Pacific/Kiritimati", "2999-12-31T09:30:00.000Z"),
        ("2999-12-31T12:59:59", "Pacific/Pago_Pago", "2999-12-31T23:59:59.000Z"),
        ("3000-01-01T13:59:59+14:00", "Pacific/Kiritimati", "2999-12-31T23:59:59.000Z"),
    ),
)
def test_a_send_time_at_the_edge_of_the_range_reads_back_as_stored(
    client: TestClient, auth: dict[str, str], send_at: str, timezone: str, utc: str
) -> None:
    """Accepted at the edge, on create and update, and read back as the same instant."""
    schedule = {"mode": "at", "sendAt": send_at, "timezone": timezone}
    made = make_campaign(client, auth, schedule=schedule)
    assert made["schedule"] == {"mode": "at", "sendAt": utc, "timezone": timezone}
    cid = made["campaignId"]
    other = make_campaign(client, auth)["campaignId"]
    updated = client.patch(f"{API}/campaigns/{other}", headers=auth, json={"schedule": schedule})
    assert updated.status_code == 200, updated.text
    for campaign_id in (cid, other):
        read = client.get(f"{API}/campaigns/{campaign_id}", headers=auth).json()["data"]
        assert read["schedule"] == made["schedule"]


def test_preflight_warns_of_a_segment_both_included_and_excluded(
    client: TestClient, auth: dict[str, str]
) -> None:
    """Exclusion wins, so a segment on both sides adds no one: the audience could reach
    nobody and preflight said only that the reach was zero, or nothing at all."""
    segment = make_audience(client, auth)
    rules = {"all": [{"field": "email", "op": "exists"}]}
    made = client.post(f"{API}/segments", headers=auth, json={"name": "all", "rules": rules})
    assert made.status_code == 201, made.text
    everyone = made.json()["data"]["id"]
    template = make_template(client, auth)
    campaign = make_campaign(client, auth, segment_id=segment, template_id=template)
    cid = campaign["campaignId"]
    audience = {"included": [segment, everyone], "excluded": [everyone]}
    patched = client.patch(f"{API}/campaigns/{cid}", headers=auth, json={"audience": audience})
    assert patched.status_code == 200, patched.text
    result = post(client, f"/campaigns/{cid}/preflight", auth).json()["data"]
    overlap = [c for c in result["checks"] if c["id"] == "audience_overlap"]
    assert overlap == [
        {
            "id": "audience_overlap",
            "status": "warning",
            "message": f"Segment {everyone} is both included and excluded: exclusion wins, "
            "so it reaches no one",
        }
    ]
    assert result["status"] in ("warning", "failed")
    shown = client.get(f"{API}/campaigns/{cid}/summary", headers=auth).json()["data"]["preflight"]
    assert "audience_overlap" in {c["id"] for c in shown["checks"]}
