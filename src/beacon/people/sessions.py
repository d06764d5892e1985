"""Console sign-in: throttled password checks and server-side sessions (revocable, with idle
and absolute timeouts). The cookie carries a random token; only its hash is stored.

A browser that signed in before carries a second cookie, its device token (OWASP's "device
cookie"): its failed sign-ins for that person count against a quota of its own instead of the
email's. Guesses from anywhere else lock the email out, as before, but no longer the person on
the browser they always sign in from (otherwise five guesses every window keep anyone who
knows the address out for good). Both quotas are the per-email limit; the per-address quota
applies to every attempt."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from sqlalchemy.orm import Session

from beacon.core.clientaddr import quota_address
from beacon.core.errors import NotFound, RateLimited, Unauthorized, ValidationFailed
from beacon.core.permissions import Role
from beacon.core.ratelimit import RateLimiter, Taken
from beacon.core.security import hash_secret
from beacon.core.timefmt import utcnow
from beacon.people import passwords, repository
from beacon.people.models import ConsoleDevice, ConsoleSession, User
from beacon.people.service import Member, accounts_of, normalise_email

# last_seen_at is written at most this often, so browsing does not write on every page.
_TOUCH_EVERY = timedelta(seconds=60)
# A browser is remembered this long after its last sign-in (the device cookie's Max-Age).
DEVICE_REMEMBERED = timedelta(days=365)
_TOKEN_MAX = 100  # longer cookie values are nobody's token: not hashed, not looked up


@dataclass(frozen=True)
class Timeouts:
    idle: timedelta
    absolute: timedelta


@dataclass(frozen=True)
class LoginThrottle:
    limiter: RateLimiter
    per_email: str
    per_ip: str


@dataclass(frozen=True)
class SignedIn:
    """A live console session: the person, the account they act in (None: they belong to none)."""

    session_id: int
    user_id: int
    email: str
    name: str
    csrf_token: str
    member: Member | None
    accounts: list[tuple[int, str, Role]]


class LockedOut(RateLimited):
    """Too many failed sign-ins for this email or from this address."""


class BrowserSignIn(NamedTuple):
    """A successful sign-in: the session cookie's token (shown once) and row, and a new device
    token for the browser to keep (None when it presented a valid one, which is kept)."""

    token: str
    row: ConsoleSession
    device_token: str | None


def sign_in(
    *,
    session: Session,
    email: str,
    password: str,
    client_ip: str,
    throttle: LoginThrottle,
    device_token: str = "",
) -> BrowserSignIn:
    """Check the password and open a session.

    Failed attempts count per client address, and per email, or per remembered browser when
    ``device_token`` is one this person signed in on; once a quota is over its limit, even the
    right password is refused until the window ends."""
    address = _quota_address(email)
    found = _user_for(session, address)
    user = found if found is not None and found.disabled_at is None else None
    matched, device = check_person_password(
        session=session,
        user=user,
        email=address,
        password=password,
        client_ip=client_ip,
        throttle=throttle,
        device_token=device_token,
    )
    if not matched:
        raise Unauthorized("Incorrect email or password")
    assert user is not None
    now = utcnow()
    token = secrets.token_urlsafe(32)
    row = ConsoleSession(
        token_hash=hash_secret(token),
        user_id=user.id,
        account_id=_first_account(session, user.id),
        csrf_token=secrets.token_urlsafe(24),
    )
    repository.add(session, row)
    new_device: str | None = None
    if device is not None:
        device.last_used_at = now
    else:
        new_device = secrets.token_urlsafe(32)
        repository.add(session, ConsoleDevice(token_hash=hash_secret(new_device), user_id=user.id))
    return BrowserSignIn(token, row, new_device)


class PasswordCheck(NamedTuple):
    """Whether a person's password matched, and their remembered browser it was checked on."""

    matched: bool
    device: ConsoleDevice | None


def check_person_password(
    *,
    session: Session,
    user: User | None,
    email: str,
    password: str,
    client_ip: str,
    throttle: LoginThrottle,
    device_token: str = "",
) -> PasswordCheck:
    """Check ``password`` against ``user``'s (None: nobody's, as slowly) as a sign-in does:
    under the per-address quota and the quota of ``email``, or of ``user``'s remembered browser
    ``device_token`` (the module's docstring); a browser whose quota a failure used up is
    forgotten. ``LockedOut`` when a quota is used up."""
    device = _device_of(session, device_token, user)
    matched = check_password(
        email=email,
        password=password,
        stored_hash=user.password_hash if user is not None else None,
        client_ip=client_ip,
        throttle=throttle,
        device_id=device.id if device is not None else None,
    )
    if not matched:
        _forget_if_spent(session, device, throttle)
    return PasswordCheck(matched, device)


def _device_of(session: Session, token: str, user: User | None) -> ConsoleDevice | None:
    """The remembered browser of ``token`` when it is ``user``'s; None otherwise (no token, an
    unknown or forgotten one, another person's browser)."""
    if user is None or not token or len(token) > _TOKEN_MAX:
        return None
    device = repository.device_by_token_hash(session, hash_secret(token))
    if device is None or device.user_id != user.id:
        return None
    if utcnow() - device.last_used_at > DEVICE_REMEMBERED:
        return None
    return device


def _person_key(address: str, device_id: int | None) -> str:
    """The quota key of the person's failed sign-ins: the remembered browser's, else the
    email's."""
    return _device_key(device_id) if device_id is not None else f"console-login:email:{address}"


def _device_key(device_id: int) -> str:
    return f"console-login:device:{device_id}"


def _forget_if_spent(
    session: Session, device: ConsoleDevice | None, throttle: LoginThrottle
) -> None:
    """After a failed check on a remembered browser: once its quota is used up, forget the
    browser (OWASP's device-cookie lockout), so that its cookie, stolen or left on a shared
    computer, gives one window of guesses of its own and then counts on the email's quota;
    otherwise it would add a quota to the email's every window."""
    if device is not None and not throttle.limiter.has_room(
        key=_device_key(device.id), limit=throttle.per_email
    ):
        repository.forget_device(session, device)


def check_password(
    *,
    email: str,
    password: str,
    stored_hash: str | None,
    client_ip: str,
    throttle: LoginThrottle,
    device_id: int | None = None,
) -> bool:
    """Whether ``password`` matches ``stored_hash`` (None: nobody's), under the sign-in quotas
    of ``email`` (or of the remembered browser ``device_id``, see the module's docstring) and
    ``client_ip``: ``LockedOut`` when either is used up, a failure counted.

    The attempt is counted before the (slow) check and given back when it succeeds, so
    concurrent guesses get no more checks than the quota allows."""
    address = _quota_address(email)
    keys = (
        (_person_key(address, device_id), throttle.per_email),
        (f"console-login:ip:{quota_address(client_ip)}", throttle.per_ip),
    )
    taken = [throttle.limiter.take(key=key, limit=limit) for key, limit in keys]
    if not all(taken):
        wait = max(
            throttle.limiter.reset_in(key=key, limit=limit)
            for (key, limit), fits in zip(keys, taken, strict=True)
            if not fits
        )
        _give_back(throttle, taken)
        minutes = max(1, round(wait / 60))
        # The window as configured; a new password does not end it, so none is suggested.
        raise LockedOut(
            "Too many failed sign-in attempts. "
            f"Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
            headers={"retry-after": str(wait)},
        )
    if passwords.verify_password(password, stored_hash):
        _give_back(throttle, taken)
        return True
    return False


def _give_back(throttle: LoginThrottle, taken: list[Taken]) -> None:
    """Uncount an attempt that was no failure: only failed checks use up the quotas."""
    for counted in taken:
        throttle.limiter.give_back(counted)


def resume(*, session: Session, token: str, timeouts: Timeouts) -> SignedIn | None:
    """The live session for a cookie token, or None (unknown, revoked, expired, disabled)."""
    if not token or len(token) > _TOKEN_MAX:
        return None
    row = repository.session_by_token_hash(session, hash_secret(token))
    now = utcnow()
    if row is None or row.revoked_at is not None:
        return None
    if now - row.last_seen_at > timeouts.idle or now - row.created_at > timeouts.absolute:
        row.revoked_at = now
        return None
    user = repository.user_by_id(session, row.user_id)
    if user is None or user.disabled_at is not None:
        return None
    if now - row.last_seen_at > _TOUCH_EVERY:
        row.last_seen_at = now
    accounts = accounts_of(session=session, user_id=user.id)
    current = next(
        (a for a in accounts if a[0] == row.account_id), accounts[0] if accounts else None
    )
    if current is not None and current[0] != row.account_id:
        row.account_id = current[0]
    member = (
        Member(user.id, user.email, user.name, current[0], current[1], current[2])
        if current
        else None
    )
    return SignedIn(row.id, user.id, user.email, user.name, row.csrf_token, member, accounts)


def change_password(
    *,
    session: Session,
    member: Member,
    current: str,
    new: str,
    client_ip: str,
    throttle: LoginThrottle,
    keep_session_id: int | None = None,
    device_token: str = "",
) -> None:
    """Change the member's own password after checking the current one (under the sign-in
    quotas: a signed-in browser is no place to guess it; on the member's remembered browser,
    ``device_token``, that browser's quota, as at sign-in, so that guesses from elsewhere do
    not keep its owner from changing the password); their other sessions (all but
    ``keep_session_id``, the one making the change) end."""
    user = repository.user_by_id(session, member.user_id)
    assert user is not None
    matched, device = check_person_password(
        session=session,
        user=user,
        email=user.email,
        password=current,
        client_ip=client_ip,
        throttle=throttle,
        device_token=device_token,
    )
    if not matched:
        raise ValidationFailed(
            "Your current password is not correct", details={"field": "current_password"}
        )
    passwords.check_new_password(new, field="new_password")
    user.password_hash = passwords.hash_password(new)
    repository.revoke_user_sessions(
        session, user_id=user.id, now=utcnow(), keep_session_id=keep_session_id
    )
    # A new password (perhaps because the old one leaked) forgets the other browsers too.
    repository.forget_devices(
        session, user_id=user.id, keep_device_id=device.id if device is not None else None
    )


def switch_account(*, session: Session, signed_in: SignedIn, account_id: int) -> None:
    """Act in another of the user's accounts from now on; 404 for an account they are not in."""
    if all(a[0] != account_id for a in signed_in.accounts):
        raise NotFound(f"Account with ID {account_id} not found")
    row = session.get(ConsoleSession, signed_in.session_id)
    assert row is not None
    row.account_id = account_id
    session.flush()


def sign_out(*, session: Session, token: str) -> None:
    """Revoke the session of this cookie token (nothing happens for an unknown one)."""
    row = repository.session_by_token_hash(session, hash_secret(token)) if token else None
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()


def prune(*, session: Session, older_than: timedelta) -> int:
    """Delete sessions idle for longer than ``older_than``, and forget browsers no one signed
    in on for ``DEVICE_REMEMBERED``; returns how many sessions."""
    repository.prune_devices(session, before=utcnow() - DEVICE_REMEMBERED)
    return repository.prune_sessions(session, before=utcnow() - older_than)


def _quota_address(email: str) -> str:
    """The address as sign-in looks it up (lower case, IDNA-mapped domain), so that every
    spelling of one person's email shares one quota; other text as typed, lower-cased."""
    address = email.strip().lower()[:320]
    try:
        return normalise_email(address)
    except ValidationFailed:
        return address


def _user_for(session: Session, address: str) -> User | None:
    try:
        return repository.user_by_email(session, normalise_email(address))
    except ValidationFailed:  # a malformed address simply matches nobody
        return None


def _first_account(session: Session, user_id: int) -> int | None:
    accounts = accounts_of(session=session, user_id=user_id)
    return accounts[0][0] if accounts else None
