"""Queries over users, memberships, console sessions, posted console forms and invitations."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from beacon.core.db import hold_rows
from beacon.core.models import Account
from beacon.people.models import (
    ConsoleDevice,
    ConsoleFormNonce,
    ConsoleSession,
    Invitation,
    Membership,
    User,
)


def add(session: Session, row: object) -> None:
    """Insert ``row`` and flush so its id is assigned."""
    session.add(row)
    session.flush()


def user_by_email(session: Session, email: str) -> User | None:
    """The user with this (lower-cased) email, or None."""
    return session.scalar(select(User).where(User.email == email))


def user_by_id(session: Session, user_id: int) -> User | None:
    """The user with this id, or None."""
    return session.get(User, user_id)


def all_users(session: Session) -> Sequence[User]:
    """Every user, oldest first."""
    return session.scalars(select(User).order_by(User.id)).all()


def membership(session: Session, *, user_id: int, account_id: int) -> Membership | None:
    """The user's membership in the account, or None."""
    return session.scalar(
        select(Membership).where(Membership.user_id == user_id, Membership.account_id == account_id)
    )


def memberships_of_user(session: Session, user_id: int) -> Sequence[tuple[Membership, Account]]:
    """The user's memberships with their accounts, by account name."""
    rows = session.execute(
        select(Membership, Account)
        .join(Account, Account.id == Membership.account_id)
        .where(Membership.user_id == user_id)
        .order_by(Account.name)
    )
    return [(m, a) for m, a in rows]


def members_of_account(session: Session, account_id: int) -> Sequence[tuple[Membership, User]]:
    """The account's memberships with their users, by email (as stored now, not as this
    session may have loaded them)."""
    rows = session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.account_id == account_id)
        .order_by(User.email)
        .execution_options(populate_existing=True)
    )
    return [(m, u) for m, u in rows]


def hold_memberships(session: Session, account_id: int) -> None:
    """Hold the account's memberships until the transaction ends (``core.db.hold_rows``), so
    that the owners a role change or a removal counts are still the owners when it writes."""
    hold_rows(session, Membership, Membership.account_id == account_id)


def memberships_with_accounts(session: Session) -> Sequence[tuple[Membership, Account]]:
    """Every membership with its account."""
    rows = session.execute(
        select(Membership, Account).join(Account, Account.id == Membership.account_id)
    )
    return [(m, a) for m, a in rows]


def delete_membership(session: Session, membership_row: Membership) -> None:
    """Remove a membership."""
    session.delete(membership_row)
    session.flush()


def session_by_token_hash(session: Session, token_hash: str) -> ConsoleSession | None:
    """The console session with this token hash, or None."""
    return session.scalar(select(ConsoleSession).where(ConsoleSession.token_hash == token_hash))


def revoke_user_sessions(
    session: Session,
    *,
    user_id: int,
    now: datetime,
    account_id: int | None = None,
    keep_session_id: int | None = None,
) -> None:
    """Revoke the user's live sessions (only those on ``account_id`` when given; all but
    ``keep_session_id`` when given)."""
    query = select(ConsoleSession).where(
        ConsoleSession.user_id == user_id, ConsoleSession.revoked_at.is_(None)
    )
    if account_id is not None:
        query = query.where(ConsoleSession.account_id == account_id)
    if keep_session_id is not None:
        query = query.where(ConsoleSession.id != keep_session_id)
    for row in session.scalars(query):
        row.revoked_at = now
    session.flush()


def prune_sessions(session: Session, *, before: datetime) -> int:
    """Delete sessions last seen before ``before``; returns how many."""
    result = session.execute(delete(ConsoleSession).where(ConsoleSession.last_seen_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


def device_by_token_hash(session: Session, token_hash: str) -> ConsoleDevice | None:
    """The remembered browser with this cookie token hash, or None."""
    return session.scalar(select(ConsoleDevice).where(ConsoleDevice.token_hash == token_hash))


def forget_devices(session: Session, *, user_id: int, keep_device_id: int | None = None) -> None:
    """Forget the user's remembered browsers, all but ``keep_device_id``."""
    query = delete(ConsoleDevice).where(ConsoleDevice.user_id == user_id)
    if keep_device_id is not None:
        query = query.where(ConsoleDevice.id != keep_device_id)
    session.execute(query)


def forget_device(session: Session, device: ConsoleDevice) -> None:
    """Forget one remembered browser: its cookie is an unknown token from now on."""
    session.delete(device)
    session.flush()


def prune_devices(session: Session, *, before: datetime) -> int:
    """Forget browsers last used to sign in before ``before``; returns how many."""
    result = session.execute(delete(ConsoleDevice).where(ConsoleDevice.last_used_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


def invitation_by_token_hash(session: Session, token_hash: str) -> Invitation | None:
    """The invitation with this token hash, or None."""
    return session.scalar(select(Invitation).where(Invitation.token_hash == token_hash))


def claim_invitation(session: Session, *, invitation_id: int, now: datetime) -> bool:
    """Mark the invitation accepted if it is still usable; False when another transaction
    used it first (this one waits for that one's row lock and then sees it used)."""
    result = session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > now,
        )
        .values(accepted_at=now)
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


def revoke_invitations_by(
    session: Session,
    *,
    user_id: int,
    now: datetime,
    account_id: int | None = None,
    roles: Collection[str] | None = None,
) -> None:
    """Revoke the unused invitations ``user_id`` sent (in ``account_id`` when given; only
    those inviting as one of ``roles`` when given)."""
    query = update(Invitation).where(
        Invitation.invited_by == user_id,
        Invitation.accepted_at.is_(None),
        Invitation.revoked_at.is_(None),
    )
    if account_id is not None:
        query = query.where(Invitation.account_id == account_id)
    if roles is not None:
        query = query.where(Invitation.role.in_(list(roles)))
    session.execute(query.values(revoked_at=now).execution_options(synchronize_session="fetch"))


def add_open_invitation(session: Session, row: Invitation) -> bool:
    """Insert ``row``; False, inserting nothing, when the account has an open invitation of
    the address already (the partial unique index settles two posted at once)."""
    return _insert_unique(session, row)


def _insert_unique(session: Session, row: Invitation | ConsoleFormNonce) -> bool:
    """Insert ``row``; False, inserting nothing, when a unique index already holds its key.
    Of two transactions inserting one key at once, the second waits for the first and then
    fails here; the savepoint keeps the caller's transaction usable for its answer."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


def retire_expired_invitations(
    session: Session, *, account_id: int, email: str, now: datetime
) -> None:
    """Revoke the address's expired, unused invitations of the account: they hold its place
    in the index of open invitations, which cannot tell an expired link from a live one."""
    session.execute(
        update(Invitation)
        .where(
            Invitation.account_id == account_id,
            Invitation.email == email,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at <= now,
        )
        .values(revoked_at=now)
    )


def pending_invitations(
    session: Session, *, account_id: int, now: datetime, email: str | None = None
) -> Sequence[Invitation]:
    """The account's invitations not accepted, revoked or expired (only ``email``'s when
    given), newest first."""
    query = select(Invitation).where(
        Invitation.account_id == account_id,
        Invitation.accepted_at.is_(None),
        Invitation.revoked_at.is_(None),
        Invitation.expires_at > now,
    )
    if email is not None:
        query = query.where(Invitation.email == email)
    return session.scalars(query.order_by(Invitation.id.desc())).all()


def invitation(session: Session, *, account_id: int, invitation_id: int) -> Invitation | None:
    """The account's invitation with this id, or None."""
    return session.scalar(
        select(Invitation).where(
            Invitation.id == invitation_id, Invitation.account_id == account_id
        )
    )


def delete_account(session: Session, account_id: int) -> None:
    """Delete the account; every table referencing it cascades in the database."""
    session.execute(delete(Account).where(Account.id == account_id))


def add_form_nonce(session: Session, row: ConsoleFormNonce) -> bool:
    """Insert ``row``; False, inserting nothing, when its nonce was posted already (the unique
    hash settles two posts at once)."""
    return _insert_unique(session, row)


def form_nonce(session: Session, nonce_hash: str) -> ConsoleFormNonce | None:
    """The posted form whose nonce has this hash, or None."""
    return session.scalar(select(ConsoleFormNonce).where(ConsoleFormNonce.nonce_hash == nonce_hash))


def form_made(session: Session, *, session_id: int, created_ref: str, since: datetime) -> bool:
    """Whether a form the console session posted since ``since`` made ``created_ref``."""
    statement = select(ConsoleFormNonce.id).where(
        ConsoleFormNonce.session_id == session_id,
        ConsoleFormNonce.created_ref == created_ref,
        ConsoleFormNonce.created_at >= since,
    )
    return session.scalar(statement.limit(1)) is not None


def prune_form_nonces(session: Session, *, before: datetime) -> None:
    """Delete the posted forms recorded before ``before``."""
    session.execute(delete(ConsoleFormNonce).where(ConsoleFormNonce.created_at < before))
