"""Orchestrate → Templates in Chromium: an email as it will look at desktop and phone width, the
variables a template uses, a render error shown at its line, and "send a test" delivered to a
real local SMTP sink (aiosmtpd) — or, without an email provider, a clear message saying so."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect
from tests.console.conftest import (
    Console,
    assert_accessible,
    assert_fits_phone,
    csrf_token_of,
    shoot,
    sign_in,
    start_console,
)
from tests.messaging.engine_helpers import Mailbox, body_text, smtp_server
from tests.support import wait_for

pytestmark = pytest.mark.e2e

HTML = (
    '<div style="color: rgb(200, 0, 0); font-family: Georgia, serif">\n'
    "<h1>Hello {{ contact.firstName }}</h1>\n"
    "<p>Your plan: {{ contact.attributes.plan }}</p>\n"
    '<a href="{{ unsubscribe_url }}">Unsubscribe</a>\n'
    "</div>"
)


@pytest.fixture(scope="module")
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> Iterator[Console]:
    """The console with a real SMTP server (aiosmtpd on loopback) as its email provider."""
    with smtp_server(mailbox) as url:
        running = start_console(tmp_path_factory.mktemp("editor"), env={"BEACON_SMTP_URL": url})
        try:
            yield running
        finally:
            running.server.stop()


def _new_template(page: Page, name: str) -> None:
    page.goto("/app/orchestrate/templates")
    page.get_by_label("Template name").fill(name)
    page.get_by_label("Channel").select_option("email")
    page.get_by_role("button", name="Create template").click()
    expect(page).to_have_url(re.compile(r"/app/orchestrate/templates/[0-9a-f-]{36}$"))


def test_preview_widths_variables_errors_at_their_line_and_send_a_test(
    page: Page, console: Console, mailbox: Mailbox
) -> None:
    sign_in(page, console.email("admin"), console.password("admin"))
    _new_template(page, "Launch")
    page.get_by_label("Subject").fill("Hello {{ contact.firstName }}")
    page.get_by_label("From address").fill("news@acme.example")
    page.get_by_label("HTML body").fill(HTML)

    # The email as a mail client shows it: its own inline styles, in a sandboxed frame.
    frame = page.frame_locator("#template-frame")
    # the console's first render waits for its render processes to start: on a loaded machine
    # (the suite under xdist) that took longer than the default 5 s
    expect(frame.locator("h1")).to_have_text("Hello Ada", timeout=20_000)
    expect(frame.locator("p")).to_have_text("Your plan: pro")
    expect(frame.locator("h1")).to_have_css("color", "rgb(200, 0, 0)")
    used = page.locator("#used-variables")
    expect(used).to_contain_text("Subject: contact.firstName")
    expect(used).to_contain_text("contact.attributes.plan")
    expect(used).to_contain_text("unsubscribe_url")
    desktop = page.locator("#template-frame").bounding_box()
    assert desktop is not None and desktop["width"] > 600
    page.get_by_label("Phone (390 px)").check()
    expect(page.locator("#template-frame")).to_have_css("width", "390px")
    expect(frame.locator("h1")).to_have_text("Hello Ada")
    shoot(page, "orchestrate-template-editor")
    assert_accessible(page)
    assert_fits_phone(page)
    page.get_by_label("Desktop").check()
    wide = page.locator("#template-frame").bounding_box()
    assert wide is not None and wide["width"] > 600

    # A render error names the part and the line, and shows the source around it.
    page.get_by_label("HTML body").fill("<p>one</p>\n<p>{{ contact.nickname }}</p>\n<p>three</p>")
    expect(page.locator("#preview-error-at")).to_have_text("HTML body, line 2")
    expect(page.locator("#preview-error-line")).to_contain_text("{{ contact.nickname }}")
    expect(page.locator("#preview-error")).to_contain_text("'contact.nickname' is undefined")
    expect(frame.locator("body")).to_contain_text("does not render")
    shoot(page, "orchestrate-template-error")
    assert_accessible(page)
    page.get_by_label("Subject").fill("Hi\n{{ contact.firstName")  # a syntax error
    expect(page.locator("#preview-error-at")).to_contain_text("line")
    page.get_by_label("Subject").fill("Hello {{ contact.firstName }}")
    page.get_by_label("HTML body").fill(HTML)
    expect(frame.locator("h1")).to_have_text("Hello Ada")

    # Send a test: delivered by the configured SMTP server, rendered for the sample contact.
    expect(page.locator("#no-email-provider")).to_have_count(0)
    page.get_by_label("Send a test to").fill("qa@acme.example")
    page.get_by_role("button", name="Send a test").click()
    expect(page.locator("#test-outcome")).to_contain_text("Test sent to qa@acme.example")
    wait_for(lambda: bool(mailbox.for_rcpt("qa@acme.example")), "the test message")
    [received] = mailbox.for_rcpt("qa@acme.example")
    assert received.message["Subject"] == "Hello Ada"
    assert received.message["To"] == "qa@acme.example"
    assert "news@acme.example" in received.message["From"]
    assert "<h1>Hello Ada</h1>" in body_text(received.message, "html")
    assert "Your plan: pro" in body_text(received.message, "html")
    assert_accessible(page)

    page.get_by_label("Send a test to").fill("not-an-email")
    page.get_by_role("button", name="Send a test").click()
    expect(page.locator("#test-outcome")).to_contain_text("Invalid value for 'to'")
    assert len(mailbox.for_rcpt("qa@acme.example")) == 1


def test_the_frame_loads_one_post_at_a_time_and_then_the_latest_content(
    page: Page, console: Console
) -> None:
    # Two previews swapped in a row (a queued one right after a slow first render) posted to
    # the frame twice, the second while the first was still loading: now and then the frame
    # was left with no document (the first preview of the browser test never showed).
    sign_in(page, console.email("admin"), console.password("admin"))
    _new_template(page, "One at a time")
    page.get_by_label("Subject").fill("Hello {{ contact.firstName }}")
    page.get_by_label("HTML body").fill(HTML)
    frame = page.frame_locator("#template-frame")
    expect(frame.locator("h1")).to_have_text("Hello Ada", timeout=20_000)

    held: list[Route] = []
    hold = True

    def frame_post(route: Route) -> None:
        if hold:
            held.append(route)  # the frame keeps loading until the test lets it go
        else:
            route.continue_()

    page.route("**/frame", frame_post)
    swapped = (
        "document.getElementById('template-preview')"
        ".dispatchEvent(new CustomEvent('htmx:afterSwap', {bubbles: true}))"
    )
    with page.expect_request("**/frame"):
        page.evaluate(swapped)
    page.evaluate(  # edited without a preview request of its own: only the swap below posts
        "(html) => { document.getElementById('field-html').value = html; }",
        HTML.replace("Hello", "Goodbye"),
    )
    page.evaluate(swapped)
    page.wait_for_timeout(500)
    assert len(held) == 1, "a second post went to the frame while the first was loading"

    hold = False
    held[0].continue_()
    expect(frame.locator("h1")).to_have_text("Goodbye Ada")


def test_a_viewer_cannot_send_a_test(console: Console, mailbox: Mailbox) -> None:
    with console.http() as client:
        token = console.http_sign_in(client, "admin")
        created = client.post(
            "/app/orchestrate/templates",
            data={"name": "Viewer check", "channel": "email", "csrf_token": token},
        )
        assert created.status_code == 303
        path = created.headers["location"]
    with console.http() as client:
        token = console.http_sign_in(client, "viewer")
        editor = client.get(path)
        assert editor.status_code == 200 and "Send a test" not in editor.text
        refused = client.post(
            f"{path}/test",
            data={"test_to": "viewer@acme.example", "subject": "x", "csrf_token": token},
            headers={"HX-Request": "true"},
        )
        assert refused.status_code == 403
    assert not mailbox.for_rcpt("viewer@acme.example")


def test_without_an_email_provider_the_editor_says_so(tmp_path: Path) -> None:
    running = start_console(tmp_path)
    try:
        with running.http() as client:
            token = running.http_sign_in(client, "admin")
            created = client.post(
                "/app/orchestrate/templates",
                data={"name": "No SMTP", "channel": "email", "csrf_token": token},
            )
            path = created.headers["location"]
            editor = client.get(path)
            assert 'id="no-email-provider"' in editor.text
            assert "No email provider is configured" in editor.text
            sent = client.post(
                f"{path}/test",
                data={
                    "test_to": "qa@acme.example",
                    "subject": "Hi",
                    "text": "Hello",
                    "csrf_token": csrf_token_of(editor.text),
                },
                headers={"HX-Request": "true"},
            )
            assert sent.status_code == 200
            assert "No email provider is configured" in sent.text
            assert "BEACON_SMTP_URL" in sent.text
    finally:
        running.server.stop()
