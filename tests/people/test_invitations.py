"""The invitation link on both databases: whoever holds it learns nothing about whether its email
already has a Beacon sign-in (an admin of any account can invite any address), and the link
still works once, for a new person and for someone who already signs in, until it is withdrawn.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select, update

from beacon.core import auth
from beacon.core.db import Database
from beacon.core.errors import Conflict
from beacon.core.permissions import Role
from beacon.core.timefmt import utcnow
from beacon.people import invitations, repository, service
from beacon.people.models import Invitation, User
from beacon.people.service import Member

PASSWORD = "a long enough password"
EXISTING = "existing@example.com"
NEWCOMER = "newcomer@example.com"


def _user(db: Database, email: str, account: str) -> None:
    with db.transaction() as session:
        service.ensure_member(
            session=session, account_name=account, email=email, role=Role.owner, password=PASSWORD
        )


def _inviter(db: Database) -> Member:
    _user(db, "owner@evil.example", "evil")
    with db.transaction() as session:
        user = session.scalar(select(User).where(User.email == "owner@evil.example"))
        found = auth.find_account(session=session, name="evil")
        assert user is not None and found is not None
        return Member(user.id, user.email, "", found.id, "evil", Role.owner)


def _invite(db: Database, inviter: Member, email: str) -> str:
    with db.transaction() as session:
        return invitations.invite(
            session=session, member=inviter, email=email, role=Role.viewer
        ).token


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def _comparable(page: Response, *, token: str, email: str) -> str:
    """The page without what differs by design: its link, its address and its form token."""
    text = page.text.replace(token, "TOKEN").replace(email, "EMAIL")
    return re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token"', text)


def _post(client: TestClient, token: str, **fields: str) -> Response:
    form = client.get(f"/app/invite/{token}")
    assert form.status_code == 200, form.text
    return client.post(
        f"/app/invite/{token}",
        data={**fields, "csrf_token": _csrf(form.text)},
        follow_redirects=False,
    )


def _accounts(db: Database, email: str) -> list[str]:
    with db.transaction() as session:
        user = session.scalar(select(User).where(User.email == email))
        assert user is not None
        return sorted(name for _, name, _ in service.accounts_of(session=session, user_id=user.id))


def test_the_page_is_the_same_whether_or_not_the_email_has_a_sign_in(
    db: Database, client: TestClient
) -> None:
    # The page used to ask an existing user to "confirm with your password" and anyone else to
    # choose one: an admin of any account could invite an address and read off its answer.
    _user(db, EXISTING, "acme")
    inviter = _inviter(db)
    tokens = {email: _invite(db, inviter, email) for email in (EXISTING, NEWCOMER)}

    pages = {email: client.get(f"/app/invite/{token}") for email, token in tokens.items()}

    assert {page.status_code for page in pages.values()} == {200}
    existing, new = (
        _comparable(pages[email], token=tokens[email], email=email)
        for email in (EXISTING, NEWCOMER)
    )
    assert existing == new
    # Nor do the answers to a form that cannot be accepted: a missing name, then a password
    # that is neither the sign-in's nor one a new person may choose, answer alike (and count
    # as failed sign-ins for both, so the lockout cannot tell them apart either).
    for fields in ({"name": "", "password": PASSWORD}, {"name": "Mallory", "password": "short"}):
        answers = {email: _post(client, token, **fields) for email, token in tokens.items()}
        assert answers[EXISTING].status_code == answers[NEWCOMER].status_code == 400
        assert _comparable(answers[EXISTING], token=tokens[EXISTING], email=EXISTING) == (
            _comparable(answers[NEWCOMER], token=tokens[NEWCOMER], email=NEWCOMER)
        )
    with db.transaction() as session:
        assert session.scalar(select(User).where(User.email == NEWCOMER)) is None


def _autocomplete(html: str) -> str:
    found = re.search(r'<input id="field-password"[^>]* autocomplete="([^"]+)"', html)
    assert found, "no password field on the page"
    return found.group(1)


def test_the_password_field_is_a_new_password_unless_the_person_says_they_have_a_sign_in(
    db: Database, client: TestClient
) -> None:
    # The field said autocomplete="current-password" to everyone: a newcomer creating their
    # password got no offer from their password manager to make and save one. The page may not
    # decide by the email (see above), so the person does: a link for a sign-in they have.
    _user(db, EXISTING, "acme")
    inviter = _inviter(db)
    tokens = {email: _invite(db, inviter, email) for email in (EXISTING, NEWCOMER)}

    for email, token in tokens.items():
        offered = client.get(f"/app/invite/{token}")
        assert _autocomplete(offered.text) == "new-password", email
        assert f'href="/app/invite/{token}?sign_in=1"' in offered.text
        signing_in = client.get(f"/app/invite/{token}?sign_in=1")
        assert _autocomplete(signing_in.text) == "current-password", email
        assert f'action="/app/invite/{token}?sign_in=1"' in signing_in.text
    refused = client.post(
        f"/app/invite/{tokens[EXISTING]}?sign_in=1",
        data={
            "name": "E",
            "password": "not the password at all",
            "csrf_token": _csrf(client.get(f"/app/invite/{tokens[EXISTING]}?sign_in=1").text),
        },
    )
    assert refused.status_code == 400
    assert _autocomplete(refused.text) == "current-password"  # the answer keeps their choice
    # Either form joins either person: the choice only tells the browser what the field is.
    assert _post(client, tokens[NEWCOMER], name="Nia", password=PASSWORD).status_code == 303
    accepted = client.post(
        f"/app/invite/{tokens[EXISTING]}?sign_in=1",
        data={
            "name": "E",
            "password": PASSWORD,
            "csrf_token": _csrf(client.get(f"/app/invite/{tokens[EXISTING]}?sign_in=1").text),
        },
        follow_redirects=False,
    )
    assert accepted.status_code == 303
    assert _accounts(db, EXISTING) == ["acme", "evil"]


def test_an_existing_user_accepts_with_their_password_once(
    db: Database, client: TestClient
) -> None:
    _user(db, EXISTING, "acme")
    token = _invite(db, _inviter(db), EXISTING)

    wrong = _post(client, token, name="Someone", password="not the password at all")
    assert wrong.status_code == 400
    assert _accounts(db, EXISTING) == ["acme"]

    accepted = _post(client, token, name="Someone", password=PASSWORD)
    assert accepted.status_code == 303 and accepted.headers["location"] == "/app/login?accepted=1"
    assert _accounts(db, EXISTING) == ["acme", "evil"]
    with db.transaction() as session:
        kept = session.scalar(select(User).where(User.email == EXISTING))
        assert kept is not None and kept.name == ""  # the invitation does not rename anyone
    assert client.get(f"/app/invite/{token}").status_code == 404  # the link worked once


def test_a_new_person_chooses_a_name_and_password_once(db: Database, client: TestClient) -> None:
    token = _invite(db, _inviter(db), NEWCOMER)

    accepted = _post(client, token, name="Nia Newcomer", password="a new long password")

    assert accepted.status_code == 303
    assert _accounts(db, NEWCOMER) == ["evil"]
    with db.transaction() as session:
        user = session.scalar(select(User).where(User.email == NEWCOMER))
        assert user is not None and user.name == "Nia Newcomer"
    assert client.get(f"/app/invite/{token}").status_code == 404


def test_a_withdrawn_invitation_stops_working_for_either(db: Database, client: TestClient) -> None:
    _user(db, EXISTING, "acme")
    inviter = _inviter(db)
    for email in (EXISTING, NEWCOMER):
        token = _invite(db, inviter, email)
        form = client.get(f"/app/invite/{token}")
        with db.transaction() as session:
            [pending] = [
                row
                for row in invitations.pending(session=session, member=inviter)
                if row.email == email
            ]
            invitations.revoke(session=session, member=inviter, invitation_id=pending.id)
        assert client.get(f"/app/invite/{token}").status_code == 404
        refused = client.post(
            f"/app/invite/{token}",
            data={"name": "Someone", "password": PASSWORD, "csrf_token": _csrf(form.text)},
        )
        assert refused.status_code == 404
    assert _accounts(db, EXISTING) == ["acme"]


ALREADY = f"{NEWCOMER} already has a pending invitation: withdraw it to send a new one"


def _open_invitations(db: Database, email: str) -> list[Invitation]:
    with db.transaction() as session:
        return list(
            session.scalars(
                select(Invitation).where(
                    Invitation.email == email,
                    Invitation.accepted_at.is_(None),
                    Invitation.revoked_at.is_(None),
                )
            )
        )


def test_a_duplicate_stored_after_the_check_gets_the_sequential_answer(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other request's invitation is committed after this one checked: the database
    refuses the second open link, and the answer is the one a later duplicate gets."""
    inviter = _inviter(db)
    _invite(db, inviter, NEWCOMER)
    with pytest.raises(Conflict) as sequential:
        _invite(db, inviter, NEWCOMER)
    assert sequential.value.message == ALREADY
    monkeypatch.setattr(repository, "pending_invitations", lambda *a, **k: [])
    with db.transaction() as session:
        with pytest.raises(Conflict) as raced:
            invitations.invite(session=session, member=inviter, email=NEWCOMER, role=Role.viewer)
        assert raced.value.message == ALREADY
        # the transaction is still usable: the console renders the page from it
        assert session.scalars(select(Invitation.email)).all() == [NEWCOMER]
    assert len(_open_invitations(db, NEWCOMER)) == 1


def test_two_invitations_posted_at_once_make_one_link(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both requests check before either inserts (a barrier holds each after its check)."""
    inviter = _inviter(db)
    both_checked = threading.Barrier(2, timeout=30)
    check = repository.pending_invitations

    def check_then_wait(*args: Any, **kwargs: Any) -> Sequence[Invitation]:
        found = check(*args, **kwargs)
        both_checked.wait()
        return found

    monkeypatch.setattr(repository, "pending_invitations", check_then_wait)
    answers: list[str] = []

    def post() -> None:
        try:
            _invite(db, inviter, NEWCOMER)
            answers.append("invited")
        except Conflict as exc:
            answers.append(exc.message)

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(answers) == sorted(["invited", ALREADY])
    assert len(_open_invitations(db, NEWCOMER)) == 1


def test_an_expired_invitation_gives_way_to_a_new_one(db: Database) -> None:
    inviter = _inviter(db)
    _invite(db, inviter, NEWCOMER)
    with db.transaction() as session:
        session.execute(update(Invitation).values(expires_at=utcnow() - timedelta(seconds=1)))
    token = _invite(db, inviter, NEWCOMER)
    [live] = _open_invitations(db, NEWCOMER)
    with db.transaction() as session:
        assert invitations.look_up(session=session, token=token).email == NEWCOMER
        assert [row.id for row in invitations.pending(session=session, member=inviter)] == [live.id]
