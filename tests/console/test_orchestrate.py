"""Orchestrate in Chromium: create an email template, edit it and watch the live preview
change (and show a render error as a message), save and publish it; import contacts from a
CSV with one bad row and see the reject, search them, unsubscribe and resubscribe one; what a
viewer may not do."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from tests.console.conftest import Console, assert_accessible, shoot, sign_in

pytestmark = pytest.mark.e2e

CSV = (
    "externalId,email,firstName,lastName,attributes.plan\n"
    "c-1,grace@example.com,Grace,Hopper,pro\n"
    "c-2,not-an-email,Bad,Row,free\n"
    "c-3,alan@example.com,Alan,Turing,free\n"
)


@pytest.fixture(scope="module")
def made(console: Console) -> dict[str, Any]:
    """A contact and a draft email template of the account, made through /public/v1, so that
    each test here works alone (pytest-xdist may run this module's tests on two workers, each
    with its own server)."""
    with console.messaging_api() as api:
        contact = {
            "externalId": "c-lin",
            "email": "lin@example.com",
            "firstName": "Lin",
            "attributes": {"plan": "pro"},
        }
        upserted = api.post("/contacts", json={"contacts": [contact]})
        assert upserted.status_code == 200, upserted.text
        (contact_id,) = upserted.json()["data"]["ids"]
        content = {"subject": "Hello {{ contact.firstName }}", "html": "<p>Hello</p>"}
        template = api.post(
            "/templates", json={"name": "Made for reading", "channel": "email", "content": content}
        )
        assert template.status_code == 201, template.text
        return {"contact": {**contact, "id": contact_id}, "template": template.json()["data"]}


def test_import_contacts_see_the_reject_and_change_a_subscription(
    page: Page, console: Console, tmp_path: Path
) -> None:
    sign_in(page, console.email("admin"), console.password("admin"))
    page.goto("/app/orchestrate/contacts")
    assert_accessible(page)
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text(CSV)
    page.get_by_label("Import a CSV").set_input_files(str(csv_file))
    page.get_by_role("button", name="Import contacts").click()
    page.get_by_role("button", name="Import 3 rows").click()  # the guessed column mapping
    expect(page.locator("#import-result")).to_contain_text("Imported 2 new")
    expect(page.locator("#import-result")).to_contain_text("1 row rejected")
    rejects = page.locator("#import-rejects tbody tr")
    expect(rejects).to_have_count(1)
    expect(rejects.first).to_contain_text("3")
    expect(rejects.first).to_contain_text("email")
    page.get_by_role("link", name="See the contacts").click()
    table = page.locator("#contacts-table")
    expect(table.get_by_role("link", name="grace@example.com")).to_be_visible()
    expect(table.get_by_role("link", name="alan@example.com")).to_be_visible()
    expect(table).not_to_contain_text("not-an-email")
    shoot(page, "orchestrate-contacts")
    assert_accessible(page)

    page.get_by_label("Search").fill("TURING")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#contacts-table tbody tr")).to_have_count(1)
    page.get_by_role("link", name="alan@example.com").click()
    expect(page.locator("#attributes")).to_contain_text("free")
    expect(page.locator("#subscription-email")).to_contain_text("subscribed")
    page.get_by_role("button", name="Unsubscribe from Email").click()
    expect(page.get_by_role("status").first).to_contain_text("Unsubscribed")
    expect(page.locator("#subscription-email .tag")).to_have_text("unsubscribed")
    expect(page.locator("#subscription-sms .tag")).to_have_text("subscribed")
    shoot(page, "orchestrate-contact")
    assert_accessible(page)
    page.get_by_role("button", name="Resubscribe to Email").click()
    expect(page.locator("#subscription-email .tag")).to_have_text("subscribed")

    page.goto("/app/orchestrate/contacts")
    page.get_by_label("Import a CSV").set_input_files(
        {"name": "x.csv", "mimeType": "text/csv", "buffer": b"email\n"}
    )
    page.get_by_role("button", name="Import contacts").click()
    expect(page.locator(".error-summary")).to_contain_text("The CSV has no data rows")


def test_edit_a_template_and_see_the_preview_change(
    page: Page, console: Console, made: dict[str, Any]
) -> None:
    sign_in(page, console.email("admin"), console.password("admin"))
    page.goto("/app/orchestrate/templates")
    assert_accessible(page)
    page.get_by_label("Template name").fill("Welcome")
    page.get_by_label("Channel").select_option("email")
    page.get_by_role("button", name="Create template").click()
    expect(page).to_have_url(re.compile(r"/app/orchestrate/templates/[0-9a-f-]{36}$"))
    expect(page.locator("#template-status")).to_have_text("draft")

    page.get_by_label("Subject").fill("Hello {{ contact.firstName }}")
    expect(page.locator("#preview-subject")).to_have_text("Hello Ada")
    page.get_by_label("Subject").fill("Hi {{ contact.firstName }} on {{ contact.attributes.plan }}")
    expect(page.locator("#preview-subject")).to_have_text("Hi Ada on pro")
    page.get_by_label("Sample contact").select_option(label=made["contact"]["email"])
    expect(page.locator("#preview-subject")).to_have_text("Hi Lin on pro")
    page.get_by_label("HTML body").fill("<p>Welcome {{ contact.firstName | upper }}</p>")
    expect(page.locator("#preview-html")).to_have_text("<p>Welcome LIN</p>")
    shoot(page, "orchestrate-template")
    assert_accessible(page)

    # A template that does not render is a message in the preview, not a failure.
    page.get_by_label("Subject").fill("Hi {{ contact.firstName")
    expect(page.locator("#preview-error")).to_contain_text("subject")
    page.get_by_label("Subject").fill("Hi {{ contact.nickname }}")
    expect(page.locator("#preview-error")).to_be_visible()
    page.get_by_label("Subject").fill("Hi {{ contact.firstName }}")
    expect(page.locator("#preview-subject")).to_have_text("Hi Lin")

    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text("Template saved")
    expect(page.get_by_label("Subject")).to_have_value("Hi {{ contact.firstName }}")
    # Publishing needs a from address.
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".error-summary")).to_contain_text("fromAddress")
    expect(page.locator("#template-status")).to_have_text("draft")
    page.get_by_label("From address").fill("news@acme.example")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("status").first).to_contain_text("Template published")
    expect(page.locator("#template-status")).to_have_text("published")
    page.goto("/app/orchestrate/templates")
    expect(page.locator("#templates-table")).to_contain_text("published")


def test_a_viewer_reads_but_cannot_change(console: Console, made: dict[str, Any]) -> None:
    with console.http() as client:
        token = console.http_sign_in(client, "viewer")
        listing = client.get("/app/orchestrate/templates")
        assert listing.status_code == 200
        assert "Create template" not in listing.text
        template_id = made["template"]["id"]
        assert f'/app/orchestrate/templates/{template_id}"' in listing.text
        editor = client.get(f"/app/orchestrate/templates/{template_id}")
        assert editor.status_code == 200
        assert "Publish" not in editor.text and 'name="action"' not in editor.text
        preview = client.post(
            f"/app/orchestrate/templates/{template_id}/preview",
            data={"subject": "Hey {{ contact.firstName }}", "csrf_token": token},
            headers={"HX-Request": "true"},
        )
        assert preview.status_code == 200 and "Hey Ada" in preview.text
        assert "<html" not in preview.text  # htmx gets the fragment
        full = client.post(
            f"/app/orchestrate/templates/{template_id}/preview",
            data={"subject": "Yo {{ contact.firstName", "csrf_token": token},
        )
        assert full.status_code == 200  # without JavaScript: the page, with the message
        assert "<html" in full.text and 'id="preview-error"' in full.text
        refused = client.post(
            f"/app/orchestrate/templates/{template_id}",
            data={"name": "Hijack", "subject": "x", "csrf_token": token},
        )
        assert refused.status_code == 403
        assert "cannot manage campaigns" in refused.text
        refused = client.post(
            "/app/orchestrate/templates",
            data={"name": "New", "channel": "sms", "csrf_token": token},
        )
        assert refused.status_code == 403

        contacts = client.get("/app/orchestrate/contacts")
        assert contacts.status_code == 200
        assert "Import contacts" not in contacts.text
        contact_id = made["contact"]["id"]
        assert f'/app/orchestrate/contacts/{contact_id}"' in contacts.text
        contact = client.get(f"/app/orchestrate/contacts/{contact_id}")
        assert contact.status_code == 200
        assert "Unsubscribe from" not in contact.text
        refused = client.post(
            f"/app/orchestrate/contacts/{contact_id}/subscriptions",
            data={"channel": "email", "status": "unsubscribed", "csrf_token": token},
        )
        assert refused.status_code == 403
        refused = client.post(
            "/app/orchestrate/contacts/import/map",
            data={"csrf_token": token},
            files={"file": ("c.csv", b"email\nx@example.com\n", "text/csv")},
        )
        assert refused.status_code == 403
        refused = client.post(
            "/app/orchestrate/contacts/import",
            data={"csrf_token": token, "csv_text": "email\nx@example.com\n", "map-0": "email"},
        )
        assert refused.status_code == 403
        after = client.get(f"/app/orchestrate/contacts/{contact_id}")
        assert after.text.count(">unsubscribed<") == 0

    with console.http() as client:  # another account's owner
        token = console.http_sign_in(client, "other")
        assert client.get(f"/app/orchestrate/templates/{template_id}").status_code == 404
        assert client.get(f"/app/orchestrate/contacts/{contact_id}").status_code == 404
        own = client.get("/app/orchestrate/contacts")
        assert contact_id not in own.text
