"""The sign-in quotas on both databases: however an email is spelled, and wherever a password
is checked, failed guesses count against the same per-email and per-address quotas."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from beacon.core import auth
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.domain import periodic_tasks
from beacon.core.errors import NotFound, Unauthorized
from beacon.core.permissions import Role
from beacon.core.ratelimit import RateLimiter
from beacon.core.security import hash_secret
from beacon.core.timefmt import utcnow
from beacon.domains import DOMAINS
from beacon.people import invitations, passwords, service, sessions
from beacon.people.models import ConsoleDevice, ConsoleSession, User
from beacon.people.service import Member

PASSWORD = "a long enough password"
EMAIL = "victim@example.com"


def _throttle(*, per_ip: str = "1000/15 minutes") -> sessions.LoginThrottle:
    return sessions.LoginThrottle(limiter=RateLimiter(), per_email="5/15 minutes", per_ip=per_ip)


def _user(db: Database, email: str = EMAIL, account: str = "acme") -> None:
    with db.transaction() as session:
        service.ensure_member(
            session=session, account_name=account, email=email, role=Role.owner, password=PASSWORD
        )


def _member(db: Database, account: str, email: str) -> Member:
    _user(db, email, account)
    with db.transaction() as session:
        user = session.scalar(select(User).where(User.email == email))
        found = auth.find_account(session=session, name=account)
        assert user is not None and found is not None
        return Member(user.id, email, "", found.id, account, Role.owner)


def _sign_in(
    db: Database, throttle: sessions.LoginThrottle, email: str, password: str, ip: str = "192.0.2.1"
) -> None:
    with db.transaction() as session:
        sessions.sign_in(
            session=session, email=email, password=password, client_ip=ip, throttle=throttle
        )


def test_the_per_email_quota_holds_for_every_spelling_of_the_address(db: Database) -> None:
    # The same person, as the sign-in lookup normalises the address: a full-width letter in the
    # domain (IDNA maps it) or upper case. Each spelling used to get a quota of its own, so an
    # attacker rotating spellings guessed without limit (2**10 spellings of example.com).
    _user(db)
    throttle = _throttle()
    spellings = [
        "victim@\uff45xample.com",
        "victim@e\uff58ample.com",
        "victim@ex\uff41mple.com",
        "VICTIM@EXAMPLE.COM",
        " victim@exa\uff4dple.com ",
    ]
    for spelling in spellings:
        with pytest.raises(Unauthorized, match="Incorrect email or password"):
            _sign_in(db, throttle, spelling, "a wrong guess")

    with pytest.raises(sessions.LockedOut):
        _sign_in(db, throttle, "victim@exampl\uff45.com", PASSWORD)
    with pytest.raises(sessions.LockedOut):
        _sign_in(db, throttle, EMAIL, PASSWORD)


def _form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def test_confirming_an_invitation_with_a_password_counts_as_a_sign_in(
    db: Database, client: TestClient
) -> None:
    # An admin of another account invites an existing user and keeps the link: the form takes
    # a password, checked against that user's, and used to check it without any quota (a password oracle
    # beside the throttled sign-in form; the right guess then joins them to the account).
    _user(db)
    inviter = _member(db, "evil", "owner@evil.example")
    with db.transaction() as session:
        token = invitations.invite(
            session=session, member=inviter, email=EMAIL, role=Role.viewer
        ).token
    form = client.get(f"/app/invite/{token}")
    assert form.status_code == 200
    csrf = _form_token(form.text)
    for guess in range(5):
        wrong = client.post(
            f"/app/invite/{token}",
            data={"name": "Mallory", "password": f"guess number {guess}", "csrf_token": csrf},
        )
        assert wrong.status_code == 400
        assert "Enter the password of this email&#39;s Beacon sign-in" in wrong.text
        csrf = _form_token(wrong.text)

    right = client.post(
        f"/app/invite/{token}",
        data={"name": "Mallory", "password": PASSWORD, "csrf_token": csrf},
    )

    assert right.status_code == 429
    assert "Too many failed sign-in attempts" in right.text
    assert 0 < int(right.headers["retry-after"]) <= 15 * 60 + 1  # whole seconds, rounded up
    with db.transaction() as session:
        assert len(service.accounts_of(session=session, user_id=inviter.user_id)) == 1
        victim = session.scalar(select(User).where(User.email == EMAIL))
        assert victim is not None
        assert [name for _, name, _ in service.accounts_of(session=session, user_id=victim.id)] == [
            "acme"
        ]
    login = client.get("/app/login")
    signed_in = client.post(
        "/app/login",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": _form_token(login.text)},
        follow_redirects=False,
    )
    assert signed_in.status_code == 429, "the invitation's guesses count for sign-in too"
    assert 0 < int(signed_in.headers["retry-after"]) <= 15 * 60 + 1


def test_the_current_password_on_the_password_form_counts_as_a_sign_in(
    db: Database, client: TestClient
) -> None:
    # Someone holding a signed-in browser used to be able to guess its owner's password on the
    # change-password form without any quota (then keep access after the sessions end).
    _user(db)
    login = client.get("/app/login")
    signed_in = client.post(
        "/app/login",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": _form_token(login.text)},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    csrf = _form_token(client.get("/app/settings/password").text)
    new = {"new_password": "another long password", "confirm_password": "another long password"}
    # The browser signed in, so it is remembered: its own quota of 5 first (then it is
    # forgotten, as OWASP's device-cookie lockout asks), then the email's 5.
    for guess in range(10):
        if guess == 5:
            with db.transaction() as session:
                assert session.scalar(select(func.count()).select_from(ConsoleDevice)) == 0
        wrong = client.post(
            "/app/settings/password",
            data={"current_password": f"guess {guess}", "csrf_token": csrf, **new},
        )
        assert wrong.status_code == 422
        assert "Your current password is not correct" in wrong.text

    right = client.post(
        "/app/settings/password",
        data={"current_password": PASSWORD, "csrf_token": csrf, **new},
        follow_redirects=False,
    )

    assert right.status_code == 429
    assert "Too many failed sign-in attempts" in right.text
    assert 0 < int(right.headers["retry-after"]) <= 15 * 60 + 1  # whole seconds, rounded up
    with db.transaction() as session:
        victim = session.scalar(select(User).where(User.email == EMAIL))
        assert victim is not None
        assert passwords.verify_password(PASSWORD, victim.password_hash), "password unchanged"


def test_concurrent_guesses_get_no_more_checks_than_the_quota(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The quota was read before the slow password check and counted after it, so guesses sent
    # at once all passed the read: 40 concurrent sign-ins against a live server got 15 checks
    # of a 5-guess quota. Each check here takes 0.3 s, as a slow hash under load would.
    checks = []

    def slow_verify(password: str, stored_hash: str | None) -> bool:
        checks.append(password)
        time.sleep(0.3)
        return False

    monkeypatch.setattr(passwords, "verify_password", slow_verify)
    throttle = _throttle()
    start = threading.Barrier(20)

    def guess(n: int) -> str:
        start.wait()
        try:
            checked = sessions.check_password(
                email=EMAIL,
                password=f"guess {n}",
                stored_hash="unused",
                client_ip="192.0.2.1",
                throttle=throttle,
            )
        except sessions.LockedOut:
            return "locked out"
        return "right" if checked else "wrong"

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(guess, range(20)))

    assert len(checks) == 5
    assert sorted(set(outcomes)) == ["locked out", "wrong"] and outcomes.count("wrong") == 5


def test_setting_a_password_on_the_command_line_ends_the_persons_sessions(db: Database) -> None:
    # `beacon users create ... --password-stdin` is how an operator resets a password (the
    # docs say so); the sessions opened with the old one stayed live for up to 7 days, so
    # resetting a stolen password did not shut the thief out.
    _user(db)
    with db.transaction() as session:
        token, _, _ = sessions.sign_in(
            session=session,
            email=EMAIL,
            password=PASSWORD,
            client_ip="192.0.2.1",
            throttle=_throttle(),
        )
    timeouts = sessions.Timeouts(idle=timedelta(hours=8), absolute=timedelta(days=7))
    with db.transaction() as session:
        assert sessions.resume(session=session, token=token, timeouts=timeouts) is not None

    with db.transaction() as session:
        service.ensure_member(
            session=session,
            account_name="acme",
            email=EMAIL,
            role=Role.owner,
            password="a brand new password",
        )

    with db.transaction() as session:
        assert sessions.resume(session=session, token=token, timeouts=timeouts) is None


def test_the_per_address_quota_counts_an_ipv6_network_as_one_address() -> None:
    # One IPv6 host holds a whole /64 (2**64 addresses): counted per address, it could spray
    # guesses over every email it knows without ever meeting the per-address quota.
    throttle = _throttle(per_ip="30/15 minutes")
    for n in range(30):
        checked = sessions.check_password(
            email=f"person{n}@example.com",
            password="a wrong guess",
            stored_hash=None,
            client_ip=f"2001:db8:1:2::{n + 1:x}",
            throttle=throttle,
        )
        assert checked is False
    with pytest.raises(sessions.LockedOut):
        sessions.check_password(
            email="another@example.com",
            password="a wrong guess",
            stored_hash=None,
            client_ip="2001:db8:1:2:ffff:ffff:ffff:fffe",
            throttle=throttle,
        )
    # the next network, and IPv4 addresses, keep their own quotas
    for address in ("2001:db8:1:3::1", "192.0.2.7", "192.0.2.8"):
        assert not sessions.check_password(
            email="another@example.com",
            password="a wrong guess",
            stored_hash=None,
            client_ip=address,
            throttle=throttle,
        )


def test_an_invitation_accepted_twice_at_once_is_used_once(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A double-clicked "Accept invitation": both posts found the link unused, both created the
    # user, and the second answered 500 (UNIQUE constraint failed: users.email); a live server
    # answered 500 to the second of two simultaneous posts every time. Each post here hashes
    # its password, then waits for the other, as two requests at once do.
    inviter = _member(db, "acme", "owner@acme.example")
    with db.transaction() as session:
        token = invitations.invite(
            session=session, member=inviter, email="new@acme.example", role=Role.viewer
        ).token
    both_hashed = threading.Barrier(2, timeout=10)
    real_hash = passwords.hash_password

    def hash_then_wait(password: str) -> str:
        hashed = real_hash(password)
        both_hashed.wait()
        return hashed

    monkeypatch.setattr(passwords, "hash_password", hash_then_wait)

    def accept(_: int) -> str:
        try:
            with db.transaction() as session:
                invitations.accept(
                    session=session,
                    token=token,
                    name="New",
                    password=PASSWORD,
                    client_ip="192.0.2.1",
                    throttle=_throttle(),
                )
        except NotFound as exc:
            return exc.message
        return "accepted"

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(accept, range(2)))

    assert outcomes.count("accepted") == 1, outcomes
    spent = next(outcome for outcome in outcomes if outcome != "accepted")
    assert spent.startswith("This invitation link is not valid any more: it was used")
    with db.transaction() as session:
        user = session.scalar(select(User).where(User.email == "new@acme.example"))
        assert user is not None
        assert [a[1:] for a in service.accounts_of(session=session, user_id=user.id)] == [
            ("acme", Role.viewer)
        ]


def test_the_lockout_says_when_to_try_again_as_configured() -> None:
    # The message said "Wait 15 minutes ... or ask an admin to reset your password" whatever
    # the configured window, and a new password does not end a lockout.
    throttle = sessions.LoginThrottle(
        limiter=RateLimiter(), per_email="2/hour", per_ip="1000/15 minutes"
    )
    for _ in range(2):
        assert not sessions.check_password(
            email=EMAIL,
            password="a wrong guess",
            stored_hash=None,
            client_ip="192.0.2.1",
            throttle=throttle,
        )
    with pytest.raises(sessions.LockedOut) as locked:
        sessions.check_password(
            email=EMAIL,
            password=PASSWORD,
            stored_hash=None,
            client_ip="192.0.2.1",
            throttle=throttle,
        )
    assert re.fullmatch(
        r"Too many failed sign-in attempts\. Try again in (59|60) minutes\.", locked.value.message
    ), locked.value.message
    assert int(locked.value.headers["retry-after"]) > 3500


def test_sessions_nobody_can_resume_are_pruned_by_the_worker(
    db: Database, settings: Settings
) -> None:
    # sessions.prune existed but nothing ran it: every sign-in left its row behind for good.
    _user(db)
    tokens = []
    for _ in range(3):
        with db.transaction() as session:
            token, _row, _ = sessions.sign_in(
                session=session,
                email=EMAIL,
                password=PASSWORD,
                client_ip="192.0.2.1",
                throttle=_throttle(),
            )
            tokens.append(token)
    with db.transaction() as session:
        rows = session.scalars(select(ConsoleSession).order_by(ConsoleSession.id)).all()
        rows[0].last_seen_at = utcnow() - timedelta(days=30)  # abandoned a month ago
        rows[1].revoked_at = rows[1].last_seen_at = utcnow() - timedelta(days=3)  # signed out
    task = next(t for t in periodic_tasks(DOMAINS, settings) if t.name == "people.prune_sessions")

    task.run(db)

    with db.transaction() as session:
        assert session.scalar(select(func.count(ConsoleSession.id))) == 1
        timeouts = sessions.Timeouts(idle=timedelta(hours=8), absolute=timedelta(days=7))
        assert sessions.resume(session=session, token=tokens[2], timeouts=timeouts) is not None


def _signed_in(
    db: Database, throttle: sessions.LoginThrottle, password: str, device: str = ""
) -> sessions.BrowserSignIn:
    """Committed whatever the outcome, as in the console, whose handler answers a refusal with
    a page (a forgotten browser stays forgotten)."""
    with db.transaction() as session:
        try:
            return sessions.sign_in(
                session=session,
                email=EMAIL,
                password=password,
                client_ip="192.0.2.1",
                throttle=throttle,
                device_token=device,
            )
        except (Unauthorized, sessions.LockedOut) as exc:
            refused = exc
    raise refused


def _change_password(
    db: Database,
    throttle: sessions.LoginThrottle,
    *,
    device: str = "",
    current: str = PASSWORD,
    new: str = "another long enough password",
) -> None:
    """The victim's own password change (Settings → Password), on the browser ``device``."""
    with db.transaction() as session:
        user = session.scalar(select(User).where(User.email == EMAIL))
        assert user is not None
        sessions.change_password(
            session=session,
            member=Member(user.id, EMAIL, "", 1, "acme", Role.owner),
            current=current,
            new=new,
            client_ip="192.0.2.1",
            throttle=throttle,
            device_token=device,
        )


def test_guesses_from_elsewhere_do_not_lock_the_person_out_of_their_own_browser(
    db: Database,
) -> None:
    """Five wrong guesses per window from anywhere kept a known address out of the console for
    good; the browser the person signed in on before has a quota of its own (OWASP's device
    cookie), while every other browser is locked out as before."""
    _user(db)
    throttle = _throttle()
    first = _signed_in(db, throttle, PASSWORD)
    assert first.device_token is not None  # a new browser: remembered from now on
    for _ in range(5):  # the attacker, without the device cookie
        with pytest.raises(Unauthorized):
            _signed_in(db, throttle, "a wrong guess")
    with pytest.raises(sessions.LockedOut):  # any other browser, even with the password
        _signed_in(db, throttle, PASSWORD)
    with pytest.raises(sessions.LockedOut):  # a made-up device token is no device
        _signed_in(db, throttle, PASSWORD, device="x" * 43)

    again = _signed_in(db, throttle, PASSWORD, device=first.device_token)
    assert again.device_token is None  # the browser keeps its cookie


def test_a_remembered_browser_has_its_own_quota_and_serves_only_its_person(db: Database) -> None:
    _user(db)
    _user(db, "other@example.com")
    throttle = _throttle()
    mine = _signed_in(db, throttle, PASSWORD).device_token
    assert mine is not None
    for _ in range(5):  # guesses on the remembered browser count against it, not the email
        with pytest.raises(Unauthorized):
            _signed_in(db, throttle, "a wrong guess", device=mine)
    assert _signed_in(db, throttle, PASSWORD).device_token is not None  # elsewhere: a new one

    # another person's remembered browser gives no quota of its own for this email
    with db.transaction() as session:
        theirs = sessions.sign_in(
            session=session,
            email="other@example.com",
            password=PASSWORD,
            client_ip="192.0.2.1",
            throttle=throttle,
        ).device_token
    assert theirs is not None
    for _ in range(5):  # so guesses with it count against the email's quota
        with pytest.raises(Unauthorized):
            _signed_in(db, throttle, "a wrong guess", device=theirs)
    with pytest.raises(sessions.LockedOut):
        _signed_in(db, throttle, PASSWORD)


def test_browsers_unused_for_a_year_are_forgotten(db: Database) -> None:
    _user(db)
    throttle = _throttle()
    kept = _signed_in(db, throttle, PASSWORD).device_token
    old = _signed_in(db, throttle, PASSWORD).device_token
    assert kept and old
    with db.transaction() as session:
        row = session.scalar(
            select(ConsoleDevice).where(ConsoleDevice.token_hash == hash_secret(old))
        )
        assert row is not None
        row.last_used_at = utcnow() - sessions.DEVICE_REMEMBERED - timedelta(minutes=1)
    # past its year, before the pruning: no longer a device (a new cookie is handed out)
    assert _signed_in(db, throttle, PASSWORD, device=old).device_token is not None
    with db.transaction() as session:
        sessions.prune(session=session, older_than=timedelta(days=1))
    with db.transaction() as session:
        left = session.scalars(select(ConsoleDevice.token_hash)).all()
    assert hash_secret(old) not in left and hash_secret(kept) in left


def test_the_person_on_their_remembered_browser_can_change_the_password_others_guess(
    db: Database,
) -> None:
    """Guesses from elsewhere lock the email out but not its owner on the remembered browser
    (docs/console.md): the owner signs in there, and the first thing to do under such an
    attack is to change the password, whose current-password check must not be the locked
    email's quota (it was: the owner was signed in but could not change the password)."""
    _user(db)
    throttle = _throttle()
    mine = _signed_in(db, throttle, PASSWORD).device_token
    assert mine is not None
    for _ in range(5):  # the attacker, without the device cookie
        with pytest.raises(Unauthorized):
            _signed_in(db, throttle, "a wrong guess")
    _signed_in(db, throttle, PASSWORD, device=mine)  # the owner is not locked out
    _change_password(db, throttle, device=mine)
    # a browser without it still is locked out
    with pytest.raises(sessions.LockedOut):
        _change_password(
            db, throttle, current="another long enough password", new="a third long password"
        )


def _devices(db: Database) -> set[str]:
    with db.transaction() as session:
        return set(session.scalars(select(ConsoleDevice.token_hash)).all())


def test_a_browser_whose_quota_is_used_up_is_forgotten(db: Database) -> None:
    """OWASP's device-cookie lockout: a cookie stolen or left on a shared computer gives one
    quota of guesses of its own, then counts on the email's. Kept remembered, it added a
    quota to the email's every window (10 guesses per window instead of 5)."""
    _user(db)
    throttle = _throttle()
    stolen = _signed_in(db, throttle, PASSWORD).device_token
    assert stolen is not None
    for _ in range(4):
        with pytest.raises(Unauthorized):
            _signed_in(db, throttle, "a wrong guess", device=stolen)
    assert hash_secret(stolen) in _devices(db)  # one guess left: still remembered
    with pytest.raises(Unauthorized):
        _signed_in(db, throttle, "a wrong guess", device=stolen)
    assert hash_secret(stolen) not in _devices(db)

    for _ in range(5):  # the same cookie now counts on the email's quota
        with pytest.raises(Unauthorized):
            _signed_in(db, throttle, "a wrong guess", device=stolen)
    for device in (stolen, ""):
        with pytest.raises(sessions.LockedOut):
            _signed_in(db, throttle, PASSWORD, device=device)


def test_a_new_password_forgets_the_other_browsers(db: Database) -> None:
    _user(db)
    throttle = _throttle()
    here = _signed_in(db, throttle, PASSWORD).device_token
    there = _signed_in(db, throttle, PASSWORD).device_token
    assert here and there
    _change_password(db, throttle, device=here)
    assert _devices(db) == {hash_secret(here)}


def _invited(db: Database, account: str = "evil") -> str:
    """A link inviting the victim (who has a sign-in) to another account."""
    inviter = _member(db, account, f"owner@{account}.example")
    with db.transaction() as session:
        return invitations.invite(
            session=session, member=inviter, email=EMAIL, role=Role.viewer
        ).token


def _confirm(client: TestClient, token: str, password: str, device: str = "") -> int:
    """The invitation form posted with ``password``, on the browser ``device``; the status."""
    client.cookies.clear()
    if device:
        client.cookies.set("beacon_device", device)
    csrf = _form_token(client.get(f"/app/invite/{token}").text)
    answer = client.post(
        f"/app/invite/{token}",
        data={"name": "Victim", "password": password, "csrf_token": csrf},
        follow_redirects=False,
    )
    return answer.status_code


def test_confirming_an_invitation_on_a_remembered_browser_counts_on_its_quota(
    db: Database, client: TestClient
) -> None:
    """Accepting with an existing password counted a failure on the email's quota even on the
    person's remembered browser: guesses from elsewhere kept them from joining, and their own
    typos there locked their email out everywhere. It uses the browser's quota, as sign-in."""
    _user(db)
    mine = _signed_in(db, _throttle(), PASSWORD).device_token
    assert mine is not None
    token = _invited(db)
    for guess in range(5):  # the attacker, without the device cookie: the email's quota
        assert _confirm(client, token, f"guess number {guess}") == 400
    assert _confirm(client, token, PASSWORD) == 429  # any other browser
    assert _confirm(client, token, PASSWORD, device=mine) == 303  # the person's own: joins
    with db.transaction() as session:
        victim = session.scalar(select(User).where(User.email == EMAIL))
        assert victim is not None
        joined = [name for _, name, _ in service.accounts_of(session=session, user_id=victim.id)]
    assert sorted(joined) == ["acme", "evil"]


def test_typos_confirming_an_invitation_on_a_remembered_browser_spare_the_email(
    db: Database, client: TestClient
) -> None:
    _user(db)
    mine = _signed_in(db, _throttle(), PASSWORD).device_token
    assert mine is not None
    token = _invited(db)
    for guess in range(4):  # on the person's browser: its quota, not the email's
        assert _confirm(client, token, f"typo number {guess}", device=mine) == 400
    assert _confirm(client, token, f"typo number {guess}") == 400  # elsewhere: the email's
    assert _confirm(client, token, PASSWORD) == 303  # the email had four more
