"""The Settings pages over HTTP (no browser), where the thing to check is what a crafted request
gets: the browser tests (test_settings.py) drive the same pages in Chromium."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.console.in_process import PASSWORD, member, sign_in

from beacon.app import create_app
from beacon.core import auth
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.models import ApiKey
from beacon.core.permissions import Role
from beacon.messaging.models import OAuthClient
from beacon.people import invitations, mail
from beacon.people.models import User
from beacon.people.service import Member


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _invite_eve(db: Database, owner: str) -> str:
    """The token of an invitation of eve@acme.example (admin) sent by ``owner`` of acme."""
    with db.transaction() as session:
        found = auth.find_account(session=session, name="acme")
        user = session.scalar(select(User).where(User.email == owner))
        assert found is not None and user is not None
        inviter = Member(user.id, owner, "", found.id, "acme", Role.owner)
        return invitations.invite(
            session=session, member=inviter, email="eve@acme.example", role=Role.admin
        ).token


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
    token = _invite_eve(db, owner)
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

    token = _invite_eve(db, owner)
    client.cookies.clear()
    form = client.get(f"/app/invite/{token}")
    accepted = client.post(
        f"/app/invite/{token}",
        data={"name": "Eve", "password": PASTED, "csrf_token": _token(form.text)},
    )
    assert accepted.status_code == 422
    assert _field_error(accepted.text, "password") == expected
    assert "Something went wrong" not in accepted.text


def _nonce(html: str) -> str:
    found = re.search(r'name="form_nonce" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _count(db: Database, model: type[ApiKey] | type[OAuthClient]) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


_KEY = re.compile(r"<code>(bk_[\w-]+)</code></pre>")
_CLIENT_SECRET = re.compile(r'id="new-client-secret"[^>]*><code>([^<]+)</code>')


def test_a_new_api_key_is_shown_once_and_a_reposted_form_makes_no_other(
    db: Database, client: TestClient
) -> None:
    # The POST redirected and the GET showed the key held in one process's memory: behind a
    # load balancer the GET reached another server, which never showed it. Now the POST answers
    # with the key, and its form's nonce, recorded in the database, stops a re-post.
    csrf = sign_in(client, member(db, "admin@acme.example", Role.admin))
    form = {"csrf_token": csrf, "form_nonce": _nonce(client.get("/app/settings/api-keys").text)}

    shown = client.post("/app/settings/api-keys", data=form)
    reposted = client.post("/app/settings/api-keys", data=form)

    assert shown.status_code == 200
    assert shown.headers["cache-control"] == "no-store"
    secret = _KEY.search(shown.text)
    assert secret is not None, shown.text
    assert "Copy it now" in shown.text
    assert reposted.status_code == 200
    assert _KEY.search(reposted.text) is None
    assert secret.group(1) not in reposted.text
    assert f"API key {secret.group(1)[:12]}… was created by this form" in reposted.text
    assert _count(db, ApiKey) == 1


def test_a_new_oauth_client_is_shown_once_and_a_reposted_form_makes_no_other(
    db: Database, client: TestClient
) -> None:
    # As API keys: the secret was held in one process's memory for the redirect's GET.
    csrf = sign_in(client, member(db, "admin@acme.example", Role.admin))
    page = client.get("/app/settings/oauth-clients")
    form = {"csrf_token": csrf, "scopes": ["audiences:read"], "form_nonce": _nonce(page.text)}

    shown = client.post("/app/settings/oauth-clients", data=form)
    reposted = client.post("/app/settings/oauth-clients", data=form)

    assert shown.status_code == 200
    assert shown.headers["cache-control"] == "no-store"
    secret = _CLIENT_SECRET.search(shown.text)
    client_id = re.search(r'id="new-client-id"[^>]*><code>([^<]+)</code>', shown.text)
    assert secret is not None and client_id is not None, shown.text
    assert "Copy the secret now" in shown.text
    assert reposted.status_code == 200
    assert _CLIENT_SECRET.search(reposted.text) is None
    assert secret.group(1) not in reposted.text
    assert f"OAuth client {client_id.group(1)} was created by this form" in reposted.text
    assert _count(db, OAuthClient) == 1


def test_revoke_pressed_twice_is_done_not_a_404(db: Database, client: TestClient) -> None:
    # A double click on Revoke (or the form posted again from the back button) answered the
    # second post with "Page not found: No active API key", though the key was revoked; a
    # withdrawn invitation already took a second withdrawal in its stride.
    csrf = sign_in(client, member(db, "admin@acme.example", Role.admin))
    made = client.post(
        "/app/settings/api-keys",
        data={"csrf_token": csrf, "form_nonce": _nonce(client.get("/app/settings/api-keys").text)},
    )
    key = _KEY.search(made.text)
    page = client.get("/app/settings/oauth-clients")
    issued = client.post(
        "/app/settings/oauth-clients",
        data={"csrf_token": csrf, "scopes": ["audiences:read"], "form_nonce": _nonce(page.text)},
    )
    client_id = re.search(r'id="new-client-id"[^>]*><code>([^<]+)</code>', issued.text)
    assert key is not None and client_id is not None
    revokes = {
        f"/app/settings/api-keys/{key.group(1)[:12]}/revoke": "/app/settings/api-keys",
        f"/app/settings/oauth-clients/{client_id.group(1)}/revoke": "/app/settings/oauth-clients",
    }
    for action, listing in revokes.items():
        for _ in range(2):
            done = client.post(action, data={"csrf_token": csrf}, follow_redirects=False)
            assert done.status_code == 303, done.text
            assert done.headers["location"] == f"{listing}?done=revoked"
    unknown = client.post("/app/settings/api-keys/bk_unknown00/revoke", data={"csrf_token": csrf})
    assert unknown.status_code == 404


def test_a_failed_client_form_leaves_its_nonce_unused(db: Database, client: TestClient) -> None:
    csrf = sign_in(client, member(db, "admin@acme.example", Role.admin))
    nonce = _nonce(client.get("/app/settings/oauth-clients").text)

    refused = client.post(
        "/app/settings/oauth-clients", data={"csrf_token": csrf, "form_nonce": nonce}
    )
    fixed = client.post(
        "/app/settings/oauth-clients",
        data={"csrf_token": csrf, "form_nonce": nonce, "scopes": ["audiences:read"]},
    )

    assert refused.status_code == 422 and "Choose at least one scope" in refused.text
    assert fixed.status_code == 200 and _CLIENT_SECRET.search(fixed.text) is not None
    assert _count(db, OAuthClient) == 1


def test_a_form_without_a_valid_nonce_or_of_another_session_creates_nothing(
    db: Database, client: TestClient
) -> None:
    csrf = sign_in(client, member(db, "admin@acme.example", Role.admin))
    nonce = _nonce(client.get("/app/settings/api-keys").text)
    assert (
        client.post(
            "/app/settings/api-keys", data={"csrf_token": csrf, "form_nonce": nonce}
        ).status_code
        == 200
    )
    other = sign_in(client, "admin@acme.example")  # another session of the same person

    answers = [
        client.post("/app/settings/api-keys", data={"csrf_token": other, **extra})
        for extra in ({}, {"form_nonce": "not-a-nonce"}, {"form_nonce": nonce})
    ]

    for answer in answers:
        assert answer.status_code == 422
        assert "nothing was created" in answer.text
        assert "created by this form" not in answer.text
        assert _KEY.search(answer.text) is None
    assert _count(db, ApiKey) == 1


def test_one_form_posted_at_once_to_two_servers_makes_one_key(
    settings: Settings, db: Database, client: TestClient
) -> None:
    # Two servers behind a load balancer share the database and nothing else: a double click
    # can send the form's two posts to both at once.
    csrf = sign_in(client, member(db, "admin@acme.example", Role.admin))
    form = {"csrf_token": csrf, "form_nonce": _nonce(client.get("/app/settings/api-keys").text)}
    other_server = create_app(settings, run_worker=False)  # its own engine on the same database
    start = threading.Barrier(2)

    def post(http: TestClient) -> str:
        start.wait(timeout=30)
        answer = http.post("/app/settings/api-keys", data=form)
        assert answer.status_code == 200, answer.text
        return answer.text

    try:
        with TestClient(other_server) as second:
            second.cookies.update(client.cookies)
            with ThreadPoolExecutor(2) as pool:
                pages = list(pool.map(post, (client, second)))
    finally:
        other_server.state.db.dispose()

    assert sum(_KEY.search(page) is not None for page in pages) == 1
    assert sum("was created by this form" in page for page in pages) == 1
    assert _count(db, ApiKey) == 1
