"""A contact field that is null or missing is undefined: printing it fails the render and names
the variable (preview and preflight), unless the template gives a default or tests it."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from tests.messaging.helpers import make_campaign, post


def _template(client: TestClient, auth: dict[str, str], content: dict[str, Any]) -> str:
    body = {"name": "t", "channel": "email", "status": "published", "content": content}
    response = post(client, "/templates", auth, body)
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def _email(subject: str) -> dict[str, str]:
    return {
        "subject": subject,
        "text": "Bye: {{ unsubscribe_url }}",
        "fromAddress": "news@example.com",
    }


def _render(client: TestClient, auth: dict[str, str], template_id: str, body: Any) -> Any:
    return post(client, f"/templates/{template_id}/render", auth, body)


def test_preview_fails_on_a_missing_or_null_field_and_names_it(
    client: TestClient, auth: dict[str, str]
) -> None:
    template_id = _template(client, auth, _email("Hi {{ contact.firstName }}"))
    for contact in ({"externalId": "a"}, {"externalId": "a", "firstName": None}):
        response = _render(client, auth, template_id, {"contact": contact})
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "TEMPLATE_RENDER_FAILED"
        assert error["details"]["field"] == "content.subject"
        assert "'contact.firstName' is undefined" in error["message"]
        assert "None" not in error["message"]
    named = _render(client, auth, template_id, {"contact": {"externalId": "a", "firstName": "Ada"}})
    assert named.status_code == 200, named.text
    assert named.json()["data"]["rendered"]["subject"] == "Hi Ada"


def test_a_default_or_a_test_covers_missing_and_null(
    client: TestClient, auth: dict[str, str]
) -> None:
    subject = (
        'Hi {{ contact.firstName | default("there") }}'
        "{% if contact.attributes.plan %} ({{ contact.attributes.plan }}){% endif %}"
        '|{{ contact.address.city | default("?") }}'
    )
    template_id = _template(client, auth, _email(subject))
    contacts = [
        {"externalId": "a"},
        {"externalId": "a", "firstName": None, "attributes": {"plan": None}, "address": None},
    ]
    for contact in contacts:
        response = _render(client, auth, template_id, {"contact": contact})
        assert response.status_code == 200, response.text
        assert response.json()["data"]["rendered"]["subject"] == "Hi there|?"
    full = {
        "externalId": "a",
        "firstName": "Ada",
        "attributes": {"plan": "pro"},
        "address": {"city": "Oslo"},
    }
    response = _render(client, auth, template_id, {"contact": full})
    assert response.json()["data"]["rendered"]["subject"] == "Hi Ada (pro)|Oslo"


def test_preview_of_a_stored_contact_without_a_first_name(
    client: TestClient, auth: dict[str, str]
) -> None:
    stored = post(client, "/contacts", auth, {"contacts": [{"externalId": "nameless"}]})
    assert stored.status_code == 200, stored.text
    listed = client.get("/public/v1/contacts", headers=auth).json()["data"]
    contact_id = next(c["id"] for c in listed if c["externalId"] == "nameless")
    template_id = _template(client, auth, _email("Hi {{ contact.firstName }}"))
    response = _render(client, auth, template_id, {"contactId": contact_id})
    assert response.status_code == 422, response.text
    assert "'contact.firstName' is undefined" in response.json()["error"]["message"]


def test_preflight_names_the_contacts_and_the_variable(
    client: TestClient, auth: dict[str, str]
) -> None:
    people = [
        {"externalId": f"c{i}", "email": f"p{i}@example.com", "attributes": {"plan": "pro"}}
        | ({"firstName": f"Ada{i}"} if i != 1 else {})
        for i in range(3)
    ]
    assert post(client, "/contacts", auth, {"contacts": people}).status_code == 200
    segment = post(
        client,
        "/segments",
        auth,
        {"name": "pro", "rules": {"field": "attributes.plan", "op": "equals", "value": "pro"}},
    )
    assert segment.status_code == 201, segment.text
    listed = client.get("/public/v1/contacts", headers=auth).json()["data"]
    nameless = next(c["id"] for c in listed if c["externalId"] == "c1")

    def preflight(subject: str) -> dict[str, str]:
        template_id = _template(client, auth, _email(subject))
        campaign = make_campaign(
            client, auth, segment_id=segment.json()["data"]["id"], template_id=template_id
        )
        response = post(client, f"/campaigns/{campaign['campaignId']}/preflight", auth)
        assert response.status_code == 200, response.text
        checks = response.json()["data"]["checks"]
        return dict(next(c for c in checks if c["id"] == "template_renders"))

    failing = preflight("Hi {{ contact.firstName }}")
    assert failing["status"] == "warning"  # that contact is skipped at send
    assert "1 of the 3 contacts" in failing["message"]
    assert nameless in failing["message"]
    assert "'contact.firstName' is undefined" in failing["message"]
    nobody = preflight("Hi {{ contact.lastName }}")
    assert nobody["status"] == "failed"
    assert "3 of the 3 contacts" in nobody["message"]
    assert "'contact.lastName' is undefined" in nobody["message"]
    passing = preflight('Hi {{ contact.firstName | default("there") }}')
    assert passing["status"] == "passed", passing
    assert passing["message"] == "Rendered for 3 contacts"
