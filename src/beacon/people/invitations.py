"""Invitations: admins invite people by email with a one-time link valid for 72 hours."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from beacon.core.errors import Conflict, NotFound, ValidationFailed
from beacon.core.models import Account
from beacon.core.permissions import Action, Role, outranks_or_equals, require
from beacon.core.security import hash_secret
from beacon.core.timefmt import utcnow
from beacon.people import passwords, repository, sessions
from beacon.people.models import Invitation, Membership, User
from beacon.people.service import Member, add_user, normalise_email

VALID_FOR = timedelta(hours=72)
_GONE = "This invitation link is not valid any more: it was used, revoked or it expired"


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    token: str


# One answer for every form that cannot be accepted: a wrong password for an existing sign-in
# and a password a new person may not choose read the same (``accept``).
_NO_PASSWORD = (
    "Enter the password of this email's Beacon sign-in or, if it has none, "
    f"choose one of {passwords.MIN_LENGTH} to {passwords.MAX_LENGTH} characters"
)


@dataclass(frozen=True)
class InvitationView:
    """What the link's page shows: never whether the email already has a Beacon sign-in (an
    admin of any account can invite any address, and would read the answer off the page)."""

    email: str
    role: Role
    account_name: str


def require_manager(member: Member) -> None:
    """403 unless the member may invite people (the invitations page is theirs)."""
    require(member.role, Action.manage_members)


def invite(*, session: Session, member: Member, email: str, role: Role) -> IssuedInvitation:
    """Invite ``email`` into the member's account; the token (for the link) is returned once."""
    require(member.role, Action.manage_members)
    if not outranks_or_equals(member.role, role):
        raise ValidationFailed(
            f"You cannot invite someone as {role.value}: it is above your role",
            details={"field": "role"},
        )
    address = normalise_email(email)
    existing = repository.user_by_email(session, address)
    if existing and repository.membership(
        session, user_id=existing.id, account_id=member.account_id
    ):
        raise Conflict(f"{address} is already a member of this account")
    now = utcnow()
    # One live link a person: a resubmitted form (double click, reload, Back) would otherwise
    # email a second link that stays valid after the first one is withdrawn.
    already = f"{address} already has a pending invitation: withdraw it to send a new one"
    if repository.pending_invitations(
        session, account_id=member.account_id, now=now, email=address
    ):
        raise Conflict(already)
    repository.retire_expired_invitations(
        session, account_id=member.account_id, email=address, now=now
    )
    token = secrets.token_urlsafe(32)
    row = Invitation(
        account_id=member.account_id,
        email=address,
        role=role.value,
        token_hash=hash_secret(token),
        invited_by=member.user_id,
        created_at=now,
        expires_at=now + VALID_FOR,
    )
    if not repository.add_open_invitation(session, row):
        raise Conflict(already)  # posted at the same time as this one, and stored first
    return IssuedInvitation(row, token)


def pending(*, session: Session, member: Member) -> list[Invitation]:
    """The account's invitations still waiting to be accepted."""
    require(member.role, Action.manage_members)
    return list(repository.pending_invitations(session, account_id=member.account_id, now=utcnow()))


def revoke(*, session: Session, member: Member, invitation_id: int) -> None:
    """Withdraw an invitation so its link stops working."""
    require(member.role, Action.manage_members)
    row = repository.invitation(session, account_id=member.account_id, invitation_id=invitation_id)
    if row is None:
        raise NotFound(f"Invitation with ID {invitation_id} not found")
    row.revoked_at = row.revoked_at or utcnow()


def look_up(*, session: Session, token: str) -> InvitationView:
    """What an invitation link offers; 404 when it is unknown, used, revoked or expired."""
    row = _live(session, token)
    account = session.get(Account, row.account_id)
    return InvitationView(row.email, Role(row.role), account.name if account else "")


def accept(
    *,
    session: Session,
    token: str,
    name: str,
    password: str,
    client_ip: str,
    throttle: sessions.LoginThrottle,
    device_token: str = "",
) -> User:
    """Use the link: everyone gives a name and a password; the email's existing sign-in must
    match it (the name is then not used), else it becomes the new sign-in's password. Either
    way they join the account with the invited role. The link is spent: of two uses at once
    (a double-click), one joins and the other finds it used.

    Whether the email has a sign-in is decided only after the password: every refusal before
    that reads the same, and a password that is refused counts as a failed sign-in (under the
    sign-in quotas, with the same slow check) whether or not there is a sign-in to match: on
    the person's remembered browser, ``device_token``, against that browser's quota, as a
    sign-in there does, so guesses from elsewhere do not keep them from joining."""
    row = _live(session, token)
    if not name.strip():
        raise ValidationFailed("Enter your name", details={"field": "name"})
    user = repository.user_by_email(session, row.email)
    password_hash = ""
    if user is None and _may_choose(password):
        password_hash = passwords.hash_password(password)  # slow: before the first write
    elif not sessions.check_person_password(
        session=session,
        user=user,
        email=row.email,
        password=password,
        client_ip=client_ip,
        throttle=throttle,
        device_token=device_token,
    ).matched:
        raise ValidationFailed(_NO_PASSWORD, details={"field": "password"})
    # The claim is the first write: a concurrent use waits on it, then finds the link spent.
    if not repository.claim_invitation(session, invitation_id=row.id, now=utcnow()):
        raise NotFound(_GONE)
    if user is None:
        user = add_user(session=session, email=row.email, name=name, password_hash=password_hash)
    if repository.membership(session, user_id=user.id, account_id=row.account_id) is None:
        repository.add(
            session, Membership(user_id=user.id, account_id=row.account_id, role=row.role)
        )
    session.flush()
    return user


def _may_choose(password: str) -> bool:
    try:
        passwords.check_new_password(password)
    except ValidationFailed:
        return False
    return True


def _live(session: Session, token: str) -> Invitation:
    row = repository.invitation_by_token_hash(session, hash_secret(token)) if token else None
    now = utcnow()
    if row is None or row.accepted_at or row.revoked_at or row.expires_at <= now:
        raise NotFound(_GONE)
    return row
