"""The unsubscribe link of an email, opened in a real browser: the page asks, the button
unsubscribes (RFC 8058: a link fetched by a mail scanner must not act on its own)."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect
from tests.console.conftest import Console

from beacon.core.db import Database
from beacon.messaging.models import Contact


def _token(console: Console, contact_id: str) -> str:
    database = Database(console.database_url)  # the token is a secret no API returns
    try:
        with database.transaction() as session:
            contact = session.get(Contact, uuid.UUID(contact_id))
            assert contact is not None
            return contact.unsubscribe_token
    finally:
        database.dispose()


def _email_status(console: Console) -> str:
    with console.messaging_api() as api:
        listed = api.get("/contacts").json()["data"]
    (contact,) = [c for c in listed if c["email"] == "reader@example.com"]
    return str(contact["subscriptions"]["email"])


def test_the_unsubscribe_page_asks_and_its_button_unsubscribes(
    page: Page, console: Console
) -> None:
    with console.messaging_api() as api:
        made = api.post("/contacts", json={"contacts": [{"email": "reader@example.com"}]})
        assert made.status_code == 200, made.text
    token = _token(console, made.json()["data"]["ids"][0])

    page.goto(f"/u/{token}")
    expect(page.get_by_role("heading", name="Unsubscribe")).to_be_visible()
    assert _email_status(console) == "subscribed"  # opening the link changed nothing

    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    assert page.url.endswith(f"/u/{token}")
    assert _email_status(console) == "unsubscribed"

    page.goto(f"/u/{token}")  # opened again: says so, no button
    expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    expect(page.get_by_role("button")).to_have_count(0)
