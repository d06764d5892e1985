"""The Settings pages over HTTP (no browser), where the thing to check is what a crafted request
gets: the browser tests (test_settings.py) drive the same pages in Chromium."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.console.in_process import PASSWORD, member, sign_in

from beacon.app import create_app
from beacon.core import auth
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.permissions import Role
from beacon.people import invitations, mail
from beacon.people.models import User
from beacon.people.service import Member


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_a_link_cannot_put_words_in_the_members_pages_alert(
    db: Database, client: TestClient
) -> None:
    # ?error= was shown as the page's "There is a problem" alert: anyone could send a member a
    # console link whose alert said what they liked ("Your session expired: sign in at ...").
    sign_in(client, member(db, "owner@acme.example", Role.owner))
    bait = "Your session expired. Sign in again at https://beacon-login.example"

    page = client.get("/app/settings/members", params={"error": bait})

    assert page.status_code == 200
    assert "owner@acme.example" in page.text
    assert "beacon-login.example" not in page.text
    assert "There is a problem" not in page.text


def test_a_name_with_a_line_break_is_one_line_and_its_invitations_still_go(
    settings: Settings, db: Database
) -> None:
    # A person chooses their name when they accept an invitation. A name with a line break
    # ("Eve\r\nBcc: ...") was stored as typed; it is the From line of the emails they send,
    # and every invitation they then sent answered 500 (email headers refuse line breaks).
    app = create_app(settings.model_copy(update={"smtp_url": "smtp://127.0.0.1:9"}))
    app.state.db.dispose()
    app.state.db = db
    owner = member(db, "owner@acme.example", Role.owner)
    with db.transaction() as session:
        found = auth.find_account(session=session, name="acme")
        user = session.scalar(select(User).where(User.email == owner))
        assert found is not None and user is not None
        inviter = Member(user.id, owner, "", found.id, "acme", Role.owner)
        token = invitations.invite(
            session=session, member=inviter, email="eve@acme.example", role=Role.admin
        ).token
    with TestClient(app, raise_server_exceptions=False) as client:
        form = client.get(f"/app/invite/{token}")
        accepted = client.post(
            f"/app/invite/{token}",
            data={
                "name": "Eve\r\nBcc: everyone@evil.example",
                "password": PASSWORD,
                "csrf_token": _token(form.text),
            },
            follow_redirects=False,
        )
        assert accepted.status_code == 303, accepted.text
        csrf = sign_in(client, "eve@acme.example")
        members = client.get("/app/settings/members")
        invited = client.post(
            "/app/settings/invitations",
            data={"email": "bo@acme.example", "role": "viewer", "csrf_token": csrf},
        )

    assert "Eve Bcc: everyone@evil.example" in members.text
    assert invited.status_code == 200, invited.text
    assert "could not be emailed" in invited.text  # nobody listens on port 9
    assert re.search(r"/app/invite/[\w-]{20,}", invited.text)


def test_the_invitation_email_keeps_names_on_one_line(settings: Settings) -> None:
    # Names stored before they were kept to one line still make a well-formed message.
    message = mail.invitation_message(
        settings=settings,
        to="bo@acme.example",
        link="http://testserver/app/invite/x",
        account_name="acme\nlabs",
        inviter="Eve\r\nBcc: everyone@evil.example",
        role="viewer",
    )
    assert message["Subject"] == "Eve Bcc: everyone@evil.example invited you to acme labs on Beacon"
    assert message["Bcc"] is None


def test_a_malformed_smtp_url_still_gives_the_link(settings: Settings, db: Database) -> None:
    # `beacon serve` starts with any BEACON_SMTP_URL; one it cannot parse made every
    # invitation answer 500 (the parse was outside the send's error handling).
    broken = settings.model_copy(update={"smtp_url": "smtp://mail.example?starttls=maybe"})
    app = create_app(broken)
    app.state.db.dispose()
    app.state.db = db
    with TestClient(app, raise_server_exceptions=False) as client:
        csrf = sign_in(client, member(db, "owner@acme.example", Role.owner))
        sent = client.post(
            "/app/settings/invitations",
            data={"email": "later@acme.example", "role": "viewer", "csrf_token": csrf},
        )
    assert sent.status_code == 200, sent.text
    assert "could not be emailed" in sent.text
    assert "starttls in BEACON_SMTP_URL must be true or false" in sent.text
    assert re.search(r"/app/invite/[\w-]{20,}", sent.text)


def test_a_second_sign_in_tab_does_not_void_the_first(db: Database, client: TestClient) -> None:
    # Every sign-in form set a new token cookie, so of two sign-in tabs (two console tabs whose
    # session ended) only the last opened could sign in: the other answered 403 "This form
    # has expired".
    email = member(db, "owner@acme.example", Role.owner)
    first = _token(client.get("/app/login").text)
    second_tab = client.get("/app/login?next=/app/settings/members")
    assert second_tab.status_code == 200

    signed_in = client.post(
        "/app/login",
        data={"email": email, "password": PASSWORD, "csrf_token": first},
        follow_redirects=False,
    )

    assert signed_in.status_code == 303, signed_in.text


def test_sending_the_same_invitation_twice_keeps_one_pending_link(
    db: Database, client: TestClient
) -> None:
    # The page answers the post itself (it shows the link once): a double click, a reload or
    # Back-and-resubmit sent a second email with a second live link for the same person.
    token = sign_in(client, member(db, "owner@acme.example", Role.owner))
    form = {"csrf_token": token, "email": "Bo@Acme.example", "role": "analyst"}

    first = client.post("/app/settings/invitations", data=form)
    again = client.post("/app/settings/invitations", data={**form, "email": "bo@acme.example"})

    assert first.status_code == 200
    assert again.status_code == 422
    assert "bo@acme.example already has a pending invitation" in again.text
    assert 'value="bo@acme.example"' in again.text  # the form keeps what was typed
    assert again.text.count("the invitation of bo@acme.example</span>") == 1
    # Withdrawn, it can be sent again.
    pending = re.search(r"/app/settings/invitations/(\d+)/revoke", again.text)
    assert pending is not None
    client.post(pending.group(0), data={"csrf_token": token})
    assert client.post("/app/settings/invitations", data=form).status_code == 200


PASTED = "p" * 1_001  # one character over the password fields' bound


def _field_error(html: str, name: str) -> str:
    found = re.search(
        rf'id="error-{name}"><span class="visually-hidden">Error:</span> ([^<]+)<', html
    )
    assert found is not None, html[-2000:]
    return found.group(1)


def test_a_password_over_1000_characters_is_a_field_error_on_every_password_form(
    db: Database, client: TestClient
) -> None:
    # FastAPI's own max_length refusal answered a generic "Something went wrong" page (422)
    # naming the field's internal name; every form taking a password says it at the field.
    owner = member(db, "owner@acme.example", Role.owner)
    expected = "Enter a password of at most 1,000 characters"
    login = client.post(
        "/app/login",
        data={
            "email": owner,
            "password": PASTED,
            "csrf_token": _token(client.get("/app/login").text),
        },
    )
    assert login.status_code == 422
    assert _field_error(login.text, "password") == expected

    csrf = sign_in(client, owner)
    for name in ("current_password", "new_password", "confirm_password"):
        typed = {
            "current_password": PASSWORD,
            "new_password": "n" * 12,
            "confirm_password": "n" * 12,
        }
        changed = client.post(
            "/app/settings/password", data={**typed, name: PASTED, "csrf_token": csrf}
        )
        assert changed.status_code == 422
        assert _field_error(changed.text, name) == expected

    with db.transaction() as session:
        found = auth.find_account(session=session, name="acme")
        user = session.scalar(select(User).where(User.email == owner))
        assert found is not None and user is not None
        inviter = Member(user.id, owner, "", found.id, "acme", Role.owner)
        token = invitations.invite(
            session=session, member=inviter, email="eve@acme.example", role=Role.admin
        ).token
    client.cookies.clear()
    form = client.get(f"/app/invite/{token}")
    accepted = client.post(
        f"/app/invite/{token}",
        data={"name": "Eve", "password": PASTED, "csrf_token": _token(form.text)},
    )
    assert accepted.status_code == 422
    assert _field_error(accepted.text, "password") == expected
    assert "Something went wrong" not in accepted.text


def test_a_new_api_key_is_shown_once_after_a_redirect(db: Database, client: TestClient) -> None:
    # The create form answered with the page itself: a reload re-posted it (another key)
    # and each answer showed a secret. Now it redirects, and the page shows the key once.
    csrf = sign_in(client, member(db, "admin@acme.example", Role.admin))
    created = client.post(
        "/app/settings/api-keys", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert created.status_code == 303
    landing = created.headers["location"]

    shown = client.get(landing)
    reloaded = client.get(landing)
    client.cookies.clear()
    sign_in(client, "admin@acme.example")  # another session of the same person
    elsewhere = client.get(landing)

    secret = re.search(r"<code>(bk_[\w-]+)</code></pre>", shown.text)
    assert secret is not None
    assert "Copy it now" in shown.text
    for page in (reloaded, elsewhere):
        assert page.status_code == 200
        assert secret.group(1) not in page.text
        assert "shown once and is not shown again" in page.text
    assert reloaded.text.count("<tr>") == shown.text.count("<tr>")  # no other key made


def test_a_new_oauth_client_is_shown_once_after_a_redirect(
    db: Database, client: TestClient
) -> None:
    # As API keys: the create form answered with the page itself, so a reload re-posted it
    # (another client, another secret). Now it redirects, and the page shows the secret once.
    csrf = sign_in(client, member(db, "admin@acme.example", Role.admin))
    created = client.post(
        "/app/settings/oauth-clients",
        data={"csrf_token": csrf, "scopes": ["audiences:read"]},
        follow_redirects=False,
    )
    assert created.status_code == 303
    landing = created.headers["location"]

    shown = client.get(landing)
    reloaded = client.get(landing)

    secret = re.search(r'id="new-client-secret"[^>]*><code>([^<]+)</code>', shown.text)
    assert secret is not None, shown.text
    assert "Copy the secret now" in shown.text
    assert reloaded.status_code == 200
    assert secret.group(1) not in reloaded.text
    assert "shown once and is not shown again" in reloaded.text
    assert reloaded.text.count("<tr>") == shown.text.count("<tr>")  # no other client made
