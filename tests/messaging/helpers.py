"""Factories of the Orchestrate tests: audiences, templates and campaigns over the API."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

API = "/public/v1"


def post(
    client: TestClient, path: str, headers: dict[str, str], body: Any = None, **kw: Any
) -> Any:
    """POST JSON under /public/v1 and return the response."""
    return client.post(f"{API}{path}", headers=headers, json=body if body is not None else {}, **kw)


def make_audience(
    client: TestClient, headers: dict[str, str], *, contacts: int = 3, channel: str = "email"
) -> str:
    """Contacts with a 'plan' attribute and a rules segment selecting them; returns its id."""
    rows = [
        {
            "externalId": f"c{i}",
            "email": f"person{i}@example.com",
            "phone": "+14155550123" if i == 0 else None,
            "firstName": f"Ada{i}",
            "address": {
                "line1": "1 Main St",
                "city": "Springfield",
                "postalCode": "12345",
                "country": "US",
            },
            "attributes": {"plan": "pro", "score": i * 10},
        }
        for i in range(contacts)
    ]
    for row in rows:
        if row["phone"] is None:
            del row["phone"]
    response = post(client, "/contacts", headers, {"contacts": rows})
    assert response.status_code == 200, response.text
    segment = post(
        client,
        "/segments",
        headers,
        {
            "name": "Pro plan",
            "rules": {"all": [{"field": "attributes.plan", "op": "equals", "value": "pro"}]},
        },
    )
    assert segment.status_code == 201, segment.text
    return str(segment.json()["data"]["id"])


def make_template(
    client: TestClient,
    headers: dict[str, str],
    *,
    channel: str = "email",
    status: str = "published",
) -> str:
    """A publishable template for the channel; returns its id."""
    content = {
        "email": {
            "subject": "Hello {{ contact.firstName }}",
            "html": "<p>Hi {{ contact.firstName }}</p><a href='{{ unsubscribe_url }}'>unsubscribe</a>",
            "text": "Hi {{ contact.firstName }}",
            "fromName": "Beacon",
            "fromAddress": "news@example.com",
        },
        "sms": {"body": "Hi {{ contact.firstName }}! Reply STOP to opt out"},
        "direct_mail": {
            "html": "<p>Dear {{ contact.firstName }}</p>",
            "addressBlock": "{{ contact.address.line1 }}",
        },
    }[channel]
    response = post(
        client,
        "/templates",
        headers,
        {"name": f"{channel} v1", "channel": channel, "status": status, "content": content},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def make_campaign(
    client: TestClient,
    headers: dict[str, str],
    *,
    segment_id: str | None = None,
    template_id: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A draft campaign; returns its data."""
    body: dict[str, Any] = {
        "name": "Spring Re-engagement",
        "channel": "email",
        "audience": {"included": [segment_id] if segment_id else [], "excluded": []},
        "templateId": template_id,
        **overrides,
    }
    response = post(client, "/campaigns", headers, body)
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def published_campaign(
    client: TestClient, headers: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    """A published email broadcast with a 3-contact audience."""
    segment_id = make_audience(client, headers)
    template_id = make_template(client, headers)
    campaign = make_campaign(
        client, headers, segment_id=segment_id, template_id=template_id, **overrides
    )
    response = post(client, f"/campaigns/{campaign['campaignId']}/publish", headers)
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])
