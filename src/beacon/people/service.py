"""Users and memberships: creating people, listing them, roles, passwords, disabling."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from beacon.core import auth, emails
from beacon.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from beacon.core.permissions import Action, Role, allows, outranks_or_equals, require
from beacon.core.timefmt import utcnow
from beacon.people import passwords, repository
from beacon.people.models import Membership, User


@dataclass(frozen=True)
class Member:
    """A signed-in person acting in one account with one role: what console services receive."""

    user_id: int
    email: str
    name: str
    account_id: int
    account_name: str
    role: Role


@dataclass(frozen=True)
class UserSummary:
    email: str
    name: str
    disabled: bool
    created_at: datetime
    accounts: list[tuple[str, Role]]


@dataclass(frozen=True)
class MemberRow:
    user_id: int
    email: str
    name: str
    role: Role
    disabled: bool
    since: datetime


@dataclass(frozen=True)
class EnsuredMember:
    user: User
    account_name: str
    role: Role
    created_user: bool
    generated_password: str | None


def normalise_email(email: str, *, field: str = "email") -> str:
    """The email lower-cased and checked for shape (no DNS lookup)."""
    try:
        return emails.normalise_email(email.strip())
    except ValueError as exc:
        raise ValidationFailed(
            f"Enter a valid email address: {exc}", details={"field": field}
        ) from None


# Unicode's bidirectional embedding, override and isolate controls, and the two marks.
_BIDI_CONTROLS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def create_user(*, session: Session, email: str, password: str, name: str = "") -> User:
    """Create a user with a checked password; 409 if the email is taken."""
    address = normalise_email(email)
    if repository.user_by_email(session, address) is not None:
        raise Conflict(f"A user with email {address} already exists")
    passwords.check_new_password(password)
    return add_user(
        session=session, email=address, name=name, password_hash=passwords.hash_password(password)
    )


def add_user(*, session: Session, email: str, name: str, password_hash: str) -> User:
    """Insert a user whose (normalised, free) email and password were checked by the caller."""
    # One line: the name is shown in lists and is the From line of the invitations they send.
    # Without bidirectional controls: U+202E in a name reversed the email shown beside it.
    shown = " ".join(_BIDI_CONTROLS.sub("", name).split())[:200]
    user = User(email=email, name=shown, password_hash=password_hash)
    repository.add(session, user)
    return user


def ensure_member(
    *, session: Session, account_name: str, email: str, role: Role, password: str | None
) -> EnsuredMember:
    """Make ``email`` a ``role`` of ``account_name``, creating account and user when missing.

    A new user gets ``password`` or, when None, a generated one (returned once). An existing
    user keeps their password unless one is given; then their sessions end. The account keeps
    an owner (409 for changing its last owner's role), as in the console."""
    account = auth.get_or_create_account(session=session, name=account_name)
    address = normalise_email(email)
    user = repository.user_by_email(session, address)
    generated = None
    created = user is None
    if password is None and user is None:
        password = generated = passwords.generate_password()
    if user is None:
        assert password is not None
        user = create_user(session=session, email=address, password=password)
    elif password is not None:
        # A new password set by an operator (a reset): sessions opened with the old one end.
        passwords.check_new_password(password)
        user.password_hash = passwords.hash_password(password)
        repository.revoke_user_sessions(session, user_id=user.id, now=utcnow())
    found = repository.membership(session, user_id=user.id, account_id=account.id)
    if found is None:
        repository.add(session, Membership(user_id=user.id, account_id=account.id, role=role))
    else:
        if found.role == Role.owner and role != Role.owner:
            _keep_an_owner(session, account.id)
        found.role = role.value
        _withdraw_invitations_beyond(session, user_id=user.id, account_id=account.id, role=role)
    session.flush()
    return EnsuredMember(user, account.name, role, created, generated)


def list_users(*, session: Session) -> list[UserSummary]:
    """Every user with their accounts and roles (never a password hash)."""
    by_user: dict[int, list[tuple[str, Role]]] = {}
    for member, account in repository.memberships_with_accounts(session):
        by_user.setdefault(member.user_id, []).append((account.name, Role(member.role)))
    return [
        UserSummary(u.email, u.name, u.disabled_at is not None, u.created_at, by_user.get(u.id, []))
        for u in repository.all_users(session)
    ]


def disable_user(*, session: Session, email: str) -> User:
    """Disable the user (they can no longer sign in), end their sessions and withdraw the
    invitations they sent; 404 if unknown."""
    user = repository.user_by_email(session, normalise_email(email))
    if user is None:
        raise NotFound(f"No user with email {email.strip().lower()}")
    now = utcnow()
    user.disabled_at = user.disabled_at or now
    repository.revoke_user_sessions(session, user_id=user.id, now=now)
    repository.revoke_invitations_by(session, user_id=user.id, now=now)
    return user


def list_members(*, session: Session, member: Member) -> list[MemberRow]:
    """The people in the member's account."""
    require(member.role, Action.read)
    return [
        MemberRow(u.id, u.email, u.name, Role(m.role), u.disabled_at is not None, m.created_at)
        for m, u in repository.members_of_account(session, member.account_id)
    ]


def change_role(*, session: Session, member: Member, user_id: int, role: Role) -> None:
    """Give a member of the account another role (admins; only owners make or unmake owners);
    the invitations they sent that the new role could not send are withdrawn."""
    require(member.role, Action.manage_members)
    target = _target(session, member, user_id)
    _check_grant(member, Role(target.role))
    _check_grant(member, role)
    if target.role == Role.owner and role != Role.owner:
        _keep_an_owner(session, member.account_id)
    target.role = role.value
    _withdraw_invitations_beyond(session, user_id=user_id, account_id=member.account_id, role=role)
    session.flush()


def remove_member(*, session: Session, member: Member, user_id: int) -> None:
    """Remove someone from the account, end their sessions on it and withdraw the invitations
    they sent into it."""
    require(member.role, Action.manage_members)
    target = _target(session, member, user_id)
    _check_grant(member, Role(target.role))
    if target.role == Role.owner:
        _keep_an_owner(session, member.account_id)
    repository.delete_membership(session, target)
    repository.revoke_user_sessions(
        session, user_id=user_id, now=utcnow(), account_id=member.account_id
    )
    repository.revoke_invitations_by(
        session, user_id=user_id, now=utcnow(), account_id=member.account_id
    )


def accounts_of(*, session: Session, user_id: int) -> list[tuple[int, str, Role]]:
    """(account id, name, role) of every account the user belongs to, by name."""
    return [
        (a.id, a.name, Role(m.role)) for m, a in repository.memberships_of_user(session, user_id)
    ]


def _target(session: Session, member: Member, user_id: int) -> Membership:
    target = repository.membership(session, user_id=user_id, account_id=member.account_id)
    if target is None:
        raise NotFound(f"Member with ID {user_id} not found")
    return target


def _check_grant(member: Member, role: Role) -> None:
    if not outranks_or_equals(member.role, role):
        raise Forbidden(f"Only an {role.value} or higher can grant or change the {role.value} role")


def _withdraw_invitations_beyond(
    session: Session, *, user_id: int, account_id: int, role: Role
) -> None:
    """Withdraw the invitations ``user_id`` sent into the account that ``role`` could not send
    (an invitation must not outlive the right that made it: a way back in after a removal)."""
    beyond = [
        r.value
        for r in Role
        if not allows(role, Action.manage_members) or not outranks_or_equals(role, r)
    ]
    repository.revoke_invitations_by(
        session, user_id=user_id, now=utcnow(), account_id=account_id, roles=beyond
    )


def _keep_an_owner(session: Session, account_id: int) -> None:
    # two owners demoting (or removing) each other at once both counted two owners and left
    # the account with none: the count and the write are made under the memberships' lock
    repository.hold_memberships(session, account_id)
    owners = [m for m, _ in repository.members_of_account(session, account_id) if m.role == "owner"]
    if len(owners) <= 1:
        raise Conflict("An account keeps at least one owner: make someone else owner first")


def delete_account(*, session: Session, member: Member, confirmation: str) -> None:
    """Delete the member's account and everything in it (owners only); ``confirmation`` must
    be the account's name, typed."""
    require(member.role, Action.delete_account)
    if confirmation.strip() != member.account_name:
        raise ValidationFailed(
            f"Type the account name, {member.account_name}, to confirm",
            details={"field": "confirmation"},
        )
    repository.delete_account(session, member.account_id)
