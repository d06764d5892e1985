"""The exact bodies of Orchestrate's one-field 422s: what clients code against stays
byte-identical whichever way the error is built."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from tests.messaging.helpers import API, make_audience, make_template, post

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.errors import APIError
from beacon.messaging.audience_schemas import RenderRequest
from beacon.messaging.audiences import contacts
from beacon.messaging.errors import render_public
from beacon.messaging.templates import proofs

MISSING = "4130bada-9264-465f-bc0c-a26bebcfcc81"


def _refusal(message: str, **details: Any) -> dict[str, Any]:
    return {
        "success": False,
        "error": {"code": "VALIDATION_ERROR", "message": message, "details": details},
    }


def _body(response: Response) -> Any:
    assert response.status_code == 422, response.text
    return response.json()


def test_campaign_audience_and_template_refusals(client: TestClient, auth: dict[str, str]) -> None:
    segment = make_audience(client, auth)
    body = {"name": "c", "channel": "email", "audience": {"included": [segment, MISSING]}}
    assert _body(post(client, "/campaigns", auth, body)) == _refusal(
        f"Invalid value for 'audience.included[1]': no segment {MISSING}",
        field="audience.included[1]",
    )
    body = {"name": "c", "channel": "email", "audience": {"excluded": [MISSING]}}
    assert _body(post(client, "/campaigns", auth, body)) == _refusal(
        f"Invalid value for 'audience.excluded[0]': no segment {MISSING}",
        field="audience.excluded[0]",
    )
    body = {"name": "c", "channel": "email", "templateId": MISSING}
    assert _body(post(client, "/campaigns", auth, body)) == _refusal(
        f"Invalid value for 'templateId': no template {MISSING}", field="templateId"
    )
    sms = make_template(client, auth, channel="sms")
    body = {"name": "c", "channel": "email", "templateId": sms}
    assert _body(post(client, "/campaigns", auth, body)) == _refusal(
        "Invalid value for 'templateId': a sms template cannot be used by a email campaign",
        field="templateId",
    )


def test_contact_and_segment_refusals(client: TestClient, auth: dict[str, str]) -> None:
    twice = {"contacts": [{"email": "a@example.com"}, {"email": "A@example.com"}]}
    assert _body(post(client, "/contacts", auth, twice)) == _refusal(
        "Invalid value for 'contacts[1]': same email as contacts[0]", field="contacts[1]"
    )
    csv_text = "email,firstName\na@example.com,Ann\nb@example.com,Bo,extra\n"
    imported = client.post(
        f"{API}/contacts/import", headers={**auth, "Content-Type": "text/csv"}, content=csv_text
    )
    assert _body(imported) == _refusal(
        "Invalid value for 'line 3': 1 more filled cell(s) than the header has columns "
        "(a comma inside a value must be quoted)",
        field="line 3",
    )
    static = {"name": "x", "contactIds": [MISSING]}
    assert _body(post(client, "/segments", auth, static)) == _refusal(
        f"Invalid value for 'contactIds': unknown contact(s) {MISSING}",
        field="contactIds",
        unknown=[MISSING],
    )


def test_template_publish_refusal(client: TestClient, auth: dict[str, str]) -> None:
    body = {"name": "t", "channel": "sms", "status": "published", "content": {}}
    assert _body(post(client, "/templates", auth, body)) == _refusal(
        "Invalid value for 'status': a published sms template needs content.body",
        field="status",
        missing=["content.body"],
    )


def _public(error: APIError) -> dict[str, Any]:
    assert error.status == 422
    return render_public(error, "r")


@pytest.mark.parametrize(
    ("channel", "status", "message", "field"),
    (
        (
            "fax",
            "subscribed",
            "Invalid value for 'channel': use one of email, sms, direct_mail",
            "channel",
        ),
        ("email", "maybe", "Invalid value for 'status': use subscribed or unsubscribed", "status"),
    ),
)
def test_subscription_refusals(
    db: Database, channel: str, status: str, message: str, field: str
) -> None:
    """The console's subscription buttons call the service: its refusal, rendered."""
    with db.transaction() as session, pytest.raises(APIError) as refused:
        contacts.set_subscription(
            session=session,
            account_id=1,
            contact_id=uuid.uuid4(),
            channel=channel,
            status=status,
        )
    assert _public(refused.value) == _refusal(message, field=field)


def test_proof_address_refusal(db: Database, settings: Settings) -> None:
    with db.transaction() as session, pytest.raises(APIError) as refused:
        proofs.send_test(
            session=session,
            settings=settings,
            account_id=1,
            template_id=uuid.uuid4(),
            to="not an address",
            data=RenderRequest.model_validate({"contact": {"email": "c@example.com"}}),
            base_url="http://beacon.test",
        )
    body = _public(refused.value)
    assert body["error"]["message"].startswith("Invalid value for 'to': ")
    assert body == _refusal(body["error"]["message"], field="to")


@pytest.mark.parametrize(
    ("rules", "message", "field"),
    (
        (
            {"all": [{"field": "email", "op": "near"}]},
            "Invalid value for 'rules.all[0].op': expected one of ",
            "rules.all[0].op",
        ),
        (
            {"any": [{"field": "email", "op": "exists", "colour": "red"}]},
            "Invalid value for 'rules.any[0]': unknown key(s) 'colour'",
            "rules.any[0]",
        ),
        (
            {"all": []},
            "Invalid value for 'rules.all': expected a non-empty list of rules",
            "rules.all",
        ),
    ),
)
def test_segment_rule_refusals(
    client: TestClient, auth: dict[str, str], rules: Any, message: str, field: str
) -> None:
    body = _body(post(client, "/segments", auth, {"name": "r", "rules": rules}))
    # the list of operators is the service's own: the message is pinned up to it
    assert body["error"]["message"].startswith(message)
    assert body == _refusal(body["error"]["message"], field=field)


def test_a_template_syntax_error_keeps_its_own_code(
    client: TestClient, auth: dict[str, str]
) -> None:
    body = {"name": "t", "channel": "email", "content": {"html": "{% if %}"}}
    assert _body(post(client, "/templates", auth, body)) == {
        "success": False,
        "error": {
            "code": "TEMPLATE_SYNTAX_ERROR",
            "message": "Invalid value for 'content.html': Expected an expression, got 'end of "
            "statement block' (line 1)",
            "details": {"field": "content.html"},
        },
    }
