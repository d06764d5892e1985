"""Queries over accounts and API keys (``core.auth`` holds the logic around them)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from beacon.core.models import Account, ApiKey


def account_named(session: Session, name: str) -> Account | None:
    """The account called ``name``, or None."""
    return session.scalar(select(Account).where(Account.name == name))


def key_with_prefix(session: Session, prefix: str) -> ApiKey | None:
    """The key whose stored prefix is ``prefix`` (revoked or not), or None."""
    return session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))


def keys_with_account_names(
    session: Session, *, account_id: int | None = None
) -> Sequence[Row[ApiKey, str]]:
    """Every key (or one account's) with its account's name, oldest first."""
    query = select(ApiKey, Account.name).join(Account, Account.id == ApiKey.account_id)
    if account_id is not None:
        query = query.where(ApiKey.account_id == account_id)
    return session.execute(query.order_by(ApiKey.id)).all()


def active_keys_starting_with(
    session: Session, prefix: str, *, account_id: int | None = None
) -> Sequence[ApiKey]:
    """The unrevoked keys (of ``account_id`` when given) whose prefix starts with ``prefix``
    (taken literally: "_" and "%" are characters of it, not LIKE wildcards)."""
    query = select(ApiKey).where(
        ApiKey.prefix.startswith(prefix, autoescape=True), ApiKey.revoked_at.is_(None)
    )
    if account_id is not None:
        query = query.where(ApiKey.account_id == account_id)
    return session.scalars(query).all()


def count_accounts(session: Session) -> int:
    """How many accounts exist."""
    return int(session.scalar(select(func.count(Account.id))) or 0)
