"""Settings pages as a person uses them: members and roles, invitations, your password, API keys,
OAuth clients and deleting the account — and the services refusing what a role may not do."""

from __future__ import annotations

import re
from collections.abc import Iterator
from mailbox import Maildir
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from tests.console.conftest import (
    Console,
    Person,
    assert_accessible,
    assert_fits_phone,
    csrf_token_of,
    shoot,
    sign_in,
    start_console,
)
from tests.support import free_port

from beacon.demo.mailsink import MailSink

pytestmark = pytest.mark.e2e


def _add_person(console: Console, email: str, role: str, account: str | None = None) -> None:
    console.cli(
        "users", "create", "--account", account or console.account, "--email", email,
        "--role", role, "--password-stdin", stdin=console.password("owner") + "\n",
    )  # fmt: skip


def _user_id(html: str, email: str) -> int:
    found = re.search(
        rf'for="role-(\d+)" class="visually-hidden">Role of {re.escape(email)}<', html
    )
    assert found, f"no role form for {email}"
    return int(found.group(1))


def _row(page: Page, email: str):  # type: ignore[no-untyped-def]
    return page.get_by_role("row").filter(has_text=email)


def test_settings_navigation_follows_the_role(page: Page, console: Console) -> None:
    sign_in(page, console.email("owner"), console.password("owner"))
    nav = page.get_by_role("navigation", name="Main")
    for label in ("Members", "Invitations", "API keys", "OAuth clients", "Password"):
        expect(nav.get_by_role("link", name=label, exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Delete account")).to_be_visible()

    page.context.clear_cookies()
    sign_in(page, console.email("analyst"), console.password("analyst"))
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Members", exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Password", exact=True)).to_be_visible()
    for label in ("Invitations", "API keys", "OAuth clients", "Delete account"):
        expect(nav.get_by_role("link", name=label, exact=True)).to_have_count(0)


def test_members_change_role_and_remove(page: Page, console: Console) -> None:
    _add_person(console, "promoted@acme.example", "analyst")
    _add_person(console, "leaving@acme.example", "viewer")
    sign_in(page, console.email("admin"), console.password("admin"))
    page.goto("/app/settings/members")
    expect(page.get_by_role("heading", name="Members", exact=True)).to_be_visible()
    shoot(page, "settings-members")
    assert_fits_phone(page)
    assert_accessible(page)

    page.get_by_label("Role of promoted@acme.example").select_option("admin")
    page.get_by_role("button", name="Change role of promoted@acme.example").click()
    expect(page.get_by_role("status")).to_have_text("Role changed.")
    expect(page.get_by_label("Role of promoted@acme.example")).to_have_value("admin")

    page.get_by_role("button", name="Remove leaving@acme.example").click()
    expect(page.get_by_role("status")).to_have_text("Member removed from the account.")
    expect(_row(page, "leaving@acme.example")).to_have_count(0)
    # an admin cannot touch the owner: no controls on the owner's row
    expect(page.get_by_label(f"Role of {console.email('owner')}")).to_have_count(0)
    expect(_row(page, console.email("owner"))).to_contain_text("owner")


def test_the_last_owner_stays(page: Page, console: Console) -> None:
    sign_in(page, console.email("owner"), console.password("owner"))
    page.goto("/app/settings/members")
    owner_row = _row(page, console.email("owner"))
    expect(owner_row).to_contain_text("The last owner stays")
    expect(page.get_by_role("button", name=f"Remove {console.email('owner')}")).to_have_count(0)

    page.get_by_label(f"Role of {console.email('owner')}").select_option("admin")
    page.get_by_role("button", name=f"Change role of {console.email('owner')}").click()

    expect(page.get_by_role("alert")).to_contain_text("keeps at least one owner")
    expect(page.get_by_label(f"Role of {console.email('owner')}")).to_have_value("owner")
    with console.http() as http:
        token = console.http_sign_in(http, "owner")
        owner_id = _user_id(http.get("/app/settings/members").text, console.email("owner"))
        removed = http.post(f"/app/settings/members/{owner_id}/remove", data={"csrf_token": token})
    assert removed.status_code == 409
    assert "keeps at least one owner" in removed.text


def test_viewer_reads_members_but_cannot_change_them(page: Page, console: Console) -> None:
    sign_in(page, console.email("viewer"), console.password("viewer"))
    page.goto("/app/settings/members")
    expect(_row(page, console.email("analyst"))).to_contain_text("analyst")
    expect(page.get_by_role("button", name=re.compile("Change role|Remove"))).to_have_count(0)
    expect(page.get_by_role("link", name="Invite someone")).to_have_count(0)
    with console.http() as http:
        admin_token = console.http_sign_in(http, "admin")
        analyst_id = _user_id(http.get("/app/settings/members").text, console.email("analyst"))
        assert admin_token
    with console.http() as http:
        token = console.http_sign_in(http, "viewer")
        role = http.post(
            f"/app/settings/members/{analyst_id}/role", data={"role": "viewer", "csrf_token": token}
        )
        remove = http.post(f"/app/settings/members/{analyst_id}/remove", data={"csrf_token": token})
        invite = http.post(
            "/app/settings/invitations",
            data={"email": "sneaky@acme.example", "role": "viewer", "csrf_token": token},
        )
        page_status = http.get("/app/settings/invitations").status_code
    assert role.status_code == 403 and "cannot manage members" in role.text
    assert remove.status_code == 403
    assert invite.status_code == 403
    assert page_status == 403
    page.reload()
    expect(_row(page, console.email("analyst"))).to_contain_text("analyst")


def test_invite_without_smtp_shows_a_one_time_link(page: Page, console: Console) -> None:
    sign_in(page, console.email("admin"), console.password("admin"))
    page.goto("/app/settings/invitations")
    expect(page.get_by_text("No email server is configured")).to_be_visible()
    page.get_by_label("Email address").fill("not an email")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("alert")).to_contain_text("Enter a valid email address")
    shoot(page, "settings-invitations-error")
    assert_accessible(page)

    page.get_by_label("Email address").fill("Newcomer@Acme.example")
    page.get_by_label("Role").select_option("analyst")
    page.get_by_role("button", name="Send invitation").click()

    expect(page.get_by_role("status")).to_contain_text("copy the link")
    link = page.locator("#invite-link").inner_text().strip()
    assert re.fullmatch(rf"{re.escape(console.base_url)}/app/invite/[\w-]{{20,}}", link)
    page.get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == link
    expect(_row(page, "newcomer@acme.example")).to_contain_text("analyst")
    shoot(page, "settings-invitations")
    assert_fits_phone(page)
    assert_accessible(page)

    page.context.clear_cookies()
    page.goto(link)
    expect(page.get_by_role("heading", name=f"Join {console.account}")).to_be_visible()
    shoot(page, "accept-invitation")
    assert_accessible(page)
    page.get_by_label("Your name").fill("Nia Newcomer")
    page.get_by_label("Choose a password").fill("a new long password")
    page.get_by_role("button", name="Accept invitation").click()
    expect(page.get_by_role("status")).to_have_text("Invitation accepted. Sign in to continue.")
    sign_in(page, "newcomer@acme.example", "a new long password")
    expect(page.locator(".user-email")).to_contain_text("newcomer@acme.example")
    expect(page.locator(".user-email")).to_contain_text("analyst")

    again = page.goto(link)
    assert again is not None and again.status == 404  # the link worked once


def test_withdrawn_invitation_link_stops_working(page: Page, console: Console) -> None:
    sign_in(page, console.email("owner"), console.password("owner"))
    page.goto("/app/settings/invitations")
    page.get_by_label("Email address").fill("maybe@acme.example")
    page.get_by_role("button", name="Send invitation").click()
    link = page.locator("#invite-link").inner_text().strip()

    page.get_by_role("button", name="Withdraw the invitation of maybe@acme.example").click()

    expect(page.get_by_role("status")).to_contain_text("Invitation withdrawn")
    expect(_row(page, "maybe@acme.example")).to_have_count(0)
    with httpx.Client() as http:
        assert http.get(link).status_code == 404


def test_change_own_password(page: Page, console: Console) -> None:
    _add_person(console, "rotating@acme.example", "viewer")
    console.people["rotating"] = Person(
        "rotating@acme.example", console.password("owner"), "viewer", "acme"
    )
    elsewhere = console.http()  # the same person signed in on another device
    console.http_sign_in(elsewhere, "rotating")
    sign_in(page, "rotating@acme.example", console.password("owner"))
    page.goto("/app/settings/password")
    shoot(page, "settings-password")
    assert_accessible(page)

    page.get_by_label("Current password").fill("wrong current password")
    page.get_by_label("New password", exact=True).fill("brand new passphrase")
    page.get_by_label("New password again").fill("brand new passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_contain_text("Your current password is not correct")
    assert_accessible(page)

    page.get_by_label("Current password").fill(console.password("owner"))
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("New password again").fill("short")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_contain_text("at least 10 characters")

    page.get_by_label("Current password").fill(console.password("owner"))
    page.get_by_label("New password", exact=True).fill("brand new passphrase")
    page.get_by_label("New password again").fill("brand new passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_have_text("Password changed.")
    page.goto("/app/pixel/campaigns")  # this session goes on; the other device's has ended
    expect(page.get_by_role("heading", name="Campaigns", exact=True)).to_be_visible()
    other_device = elsewhere.get("/app/pixel/campaigns")
    elsewhere.close()
    assert other_device.status_code == 303

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, "rotating@acme.example", console.password("owner"))
    expect(page.get_by_role("alert")).to_contain_text("Incorrect email or password")
    sign_in(page, "rotating@acme.example", "brand new passphrase")
    expect(page).to_have_url(f"{console.base_url}/app/pixel/campaigns")


def test_api_keys_create_once_list_and_revoke(page: Page, console: Console) -> None:
    sign_in(page, console.email("admin"), console.password("admin"))
    page.goto("/app/settings/api-keys")
    before = page.locator("tbody tr").count()

    page.get_by_role("button", name="Create API key").click()

    secret = page.locator("#new-key").inner_text().strip()
    assert secret.startswith("bk_")
    page.get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    expect(page.locator("tbody tr")).to_have_count(before + 1)
    shoot(page, "settings-api-keys")
    assert_fits_phone(page)
    assert_accessible(page)
    with console.api(secret) as api:
        assert api.get("/v1/pixel/campaigns").status_code == 200

    # A reload re-posts the form (it made another key and showed its secret): the form's
    # nonce has been used, so it now makes nothing and names the key it made.
    page.reload()
    expect(page.get_by_role("status")).to_contain_text(
        f"API key {secret[:12]}… was created by this form and shown once"
    )
    expect(page.locator("#new-key")).to_have_count(0)
    assert secret not in page.content()
    expect(page.locator("tbody tr")).to_have_count(before + 1)

    page.goto("/app/settings/api-keys")
    assert secret not in page.content()  # listed by prefix only
    expect(page.get_by_text(secret[:12] + "…")).to_be_visible()
    page.get_by_role("button", name=f"Revoke key {secret[:12]}").click()
    expect(page.get_by_role("status")).to_contain_text("API key revoked")
    expect(_row(page, secret[:12])).to_contain_text("revoked")
    with console.api(secret) as api:
        assert api.get("/v1/pixel/campaigns").status_code == 401


def test_api_keys_of_another_account_are_neither_listed_nor_revocable(console: Console) -> None:
    other_key = console.cli("keys", "create", "--account", console.other_account).split()[-1]
    with console.http() as http:
        token = console.http_sign_in(http, "admin")
        listing = http.get("/app/settings/api-keys")
        revoke = http.post(
            f"/app/settings/api-keys/{other_key[:12]}/revoke", data={"csrf_token": token}
        )
    assert other_key[:12] not in listing.text
    assert console.api_key[:12] in listing.text
    assert revoke.status_code == 404
    with console.api(other_key) as api:
        assert api.get("/v1/pixel/campaigns").status_code == 200


def test_analyst_cannot_manage_keys_or_clients(console: Console) -> None:
    with console.http() as http:
        token = console.http_sign_in(http, "analyst")
        keys_page = http.get("/app/settings/api-keys")
        create_key = http.post("/app/settings/api-keys", data={"csrf_token": token})
        clients_page = http.get("/app/settings/oauth-clients")
        create_client = http.post(
            "/app/settings/oauth-clients",
            data={"scopes": "campaigns:read", "csrf_token": token},
        )
    assert keys_page.status_code == 403
    assert create_key.status_code == 403 and "cannot manage API keys" in create_key.text
    assert clients_page.status_code == 403
    assert create_client.status_code == 403


def test_oauth_clients_create_once_list_and_revoke(page: Page, console: Console) -> None:
    sign_in(page, console.email("admin"), console.password("admin"))
    page.goto("/app/settings/oauth-clients")
    for scope in ("campaigns:write", "audiences:read", "audiences:write", "templates:read"):
        page.get_by_label(scope).uncheck()
    page.get_by_label("templates:write").uncheck()
    page.get_by_label("analytics:read").uncheck()
    page.get_by_label("campaigns:read").uncheck()
    page.get_by_role("button", name="Create OAuth client").click()
    expect(page.get_by_role("alert")).to_contain_text("Choose at least one scope")
    page.get_by_label("campaigns:read").check()
    page.get_by_label("analytics:read").check()
    page.get_by_role("button", name="Create OAuth client").click()

    client_id = page.locator("#new-client-id").inner_text().strip()
    secret = page.locator("#new-client-secret").inner_text().strip()
    expect(_row(page, client_id)).to_contain_text("campaigns:read analytics:read")
    shoot(page, "settings-oauth-clients")
    assert_fits_phone(page)
    assert_accessible(page)
    rows = page.locator("tbody tr").count()
    page.reload()  # re-posts the form: nothing made, the client it made is named
    expect(page.get_by_role("status")).to_contain_text(
        f"OAuth client {client_id} was created by this form"
    )
    expect(page.locator("#new-client-secret")).to_have_count(0)
    expect(page.locator("tbody tr")).to_have_count(rows)
    grant = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    with httpx.Client(base_url=console.base_url) as http:
        issued = http.post("/public/v1/oauth/token", data=grant)
    assert issued.status_code == 200, issued.text
    assert set(issued.json()["scope"].split()) == {"campaigns:read", "analytics:read"}

    page.goto("/app/settings/oauth-clients")
    assert secret not in page.content()
    page.get_by_role("button", name=f"Revoke client {client_id}").click()
    expect(page.get_by_role("status")).to_contain_text("Client revoked")
    with httpx.Client(base_url=console.base_url) as http:
        assert http.post("/public/v1/oauth/token", data=grant).status_code == 401


def test_delete_account_needs_the_owner_and_the_typed_name(page: Page, console: Console) -> None:
    _add_person(console, "founder@doomed.example", "owner", "doomed")
    _add_person(console, "helper@doomed.example", "admin", "doomed")
    doomed_key = console.cli("keys", "create", "--account", "doomed").split()[-1]
    with console.api(doomed_key) as api:
        created = api.post("/v1/pixel/campaigns", json={"name": "Doomed", "use_case": "other"})
    assert created.status_code == 201
    with console.http() as http:
        http.get("/app/login")
        token = csrf_token_of(http.get("/app/login").text)
        http.post(
            "/app/login",
            data={
                "email": "helper@doomed.example",
                "password": console.password("owner"),
                "csrf_token": token,
            },
        )
        csrf = csrf_token_of(http.get("/app/pixel/campaigns").text)
        admin_page = http.get("/app/settings/delete-account")
        admin_post = http.post(
            "/app/settings/delete-account", data={"confirmation": "doomed", "csrf_token": csrf}
        )
    assert admin_page.status_code == 403
    assert admin_post.status_code == 403 and "cannot delete the account" in admin_post.text

    sign_in(page, "founder@doomed.example", console.password("owner"))
    page.goto("/app/settings/delete-account")
    shoot(page, "settings-delete-account")
    assert_accessible(page)
    page.get_by_label("Type the account name").fill("doom")
    page.get_by_role("button", name="Delete this account").click()
    expect(page.get_by_role("alert")).to_contain_text("Type the account name, doomed, to confirm")
    with console.api(doomed_key) as api:
        assert api.get("/v1/pixel/campaigns").status_code == 200

    page.get_by_label("Type the account name").fill("doomed")
    page.get_by_role("button", name="Delete this account").click()

    expect(page).to_have_url(f"{console.base_url}/app/login?deleted=1")
    expect(page.get_by_role("status")).to_have_text("The account was deleted.")
    with console.api(doomed_key) as api:
        assert api.get("/v1/pixel/campaigns").status_code == 401
    listing = console.cli("users", "list")
    assert "doomed (" not in listing  # no membership of the account is left
    assert "founder@doomed.example" in listing  # the person stays; their account is gone


@pytest.fixture(scope="module")
def mailed_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Console, Path]]:
    """A server with BEACON_SMTP_URL pointing at a local SMTP sink writing a Maildir."""
    root = tmp_path_factory.mktemp("mailed-console")
    sink = MailSink(root / "mailbox")
    sink.start()
    running = start_console(root, env={"BEACON_SMTP_URL": sink.url})
    try:
        yield running, sink.directory
    finally:
        running.server.stop()
        sink.stop()


def test_invitation_is_emailed_when_smtp_is_configured(
    mailed_console: tuple[Console, Path],
) -> None:
    console, mailbox = mailed_console
    with console.http() as http:
        token = console.http_sign_in(http, "admin")
        sent = http.post(
            "/app/settings/invitations",
            data={"email": "mailed@acme.example", "role": "viewer", "csrf_token": token},
        )
    assert sent.status_code == 200
    assert "Invitation emailed to mailed@acme.example" in sent.text
    assert "/app/invite/" not in sent.text  # the link went by email only
    messages = list(Maildir(str(mailbox), create=False))
    assert len(messages) == 1
    message = messages[0]
    assert message["To"] == "mailed@acme.example"
    assert message["Subject"] == f"{console.email('admin')} invited you to acme on Beacon"
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    body = payload.decode()
    link = re.search(r"(http://\S+/app/invite/[\w-]+)", body)
    assert link, body
    with httpx.Client() as http:
        page = http.get(link.group(1))
    assert page.status_code == 200
    assert "You were invited as <strong>viewer</strong>" in page.text


def test_an_unreachable_smtp_server_still_gives_the_link(tmp_path: Path) -> None:
    console = start_console(tmp_path, env={"BEACON_SMTP_URL": f"smtp://127.0.0.1:{free_port()}"})
    try:
        with console.http() as http:
            token = console.http_sign_in(http, "owner")
            sent = http.post(
                "/app/settings/invitations",
                data={"email": "later@acme.example", "role": "viewer", "csrf_token": token},
            )
    finally:
        console.server.stop()
    assert sent.status_code == 200
    assert "could not be emailed" in sent.text
    assert re.search(r"/app/invite/[\w-]{20,}", sent.text)
