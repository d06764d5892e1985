"""Accounts and API keys: creation, lookup and revocation. Keys are stored only as hashes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from beacon.core import auth_repository
from beacon.core.models import Account, ApiKey
from beacon.core.security import hash_secret, new_secret, secret_matches
from beacon.core.text import not_blank
from beacon.core.timefmt import utcnow

KEY_PREFIX = "bk"
ACCOUNT_NAME_MAX = 200  # the column's length
PREFIX_LENGTH = 12  # "bk_" + 9 random characters: enough to find the row, useless to forge a key


@dataclass(frozen=True)
class IssuedKey:
    account_id: int
    account_name: str
    prefix: str
    key: str


@dataclass(frozen=True)
class KeyInfo:
    id: int
    account_id: int
    account_name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


def find_account(*, session: Session, name: str) -> Account | None:
    """The account called ``name``, or None."""
    return auth_repository.account_named(session, name)


def get_or_create_account(*, session: Session, name: str) -> Account:
    """The account called ``name`` (or, when none is, called ``name`` without surrounding
    whitespace), created if it does not exist yet; ValueError for a blank name or one over
    ``ACCOUNT_NAME_MAX`` characters (the command line's ``--account``: a slip there must not
    make an account of its own)."""
    # An exact name first: the console passes the member's account name as stored, and one
    # stored with spaces (before they were dropped) must not resolve to another account.
    account = find_account(session=session, name=name)
    if account is not None:
        return account
    try:
        name = not_blank(name)
    except ValueError:
        raise ValueError("account name must not be empty") from None
    if len(name) > ACCOUNT_NAME_MAX:
        raise ValueError(f"account name must be {ACCOUNT_NAME_MAX} characters or fewer")
    account = find_account(session=session, name=name)
    if account is None:
        account = Account(name=name)
        session.add(account)
        session.flush()
    return account


def issue_api_key(*, session: Session, account_name: str) -> IssuedKey:
    """Create a key for the named account (creating the account); the clear key is returned once."""
    account = get_or_create_account(session=session, name=account_name)
    key = new_secret(KEY_PREFIX, 32)
    prefix = key[:PREFIX_LENGTH]
    session.add(ApiKey(account_id=account.id, prefix=prefix, key_hash=hash_secret(key)))
    session.flush()
    return IssuedKey(account_id=account.id, account_name=account.name, prefix=prefix, key=key)


def authenticate_api_key(*, session: Session, presented: str) -> ApiKey | None:
    """The active key matching ``presented``, compared in constant time, else None."""
    if len(presented) < PREFIX_LENGTH or len(presented) > 200:
        return None
    key = auth_repository.key_with_prefix(session, presented[:PREFIX_LENGTH])
    if key is None or key.revoked_at is not None or not secret_matches(presented, key.key_hash):
        return None
    return key


def list_api_keys(*, session: Session, account_id: int | None = None) -> list[KeyInfo]:
    """Every key (or one account's) with its account, oldest first (never the secret)."""
    rows = auth_repository.keys_with_account_names(session, account_id=account_id)
    return [
        KeyInfo(k.id, k.account_id, name, k.prefix, k.created_at, k.revoked_at) for k, name in rows
    ]


def revoke_api_key(*, session: Session, prefix: str, account_id: int | None = None) -> int:
    """Revoke the keys (of ``account_id`` when given) whose prefix starts with ``prefix``;
    returns how many were revoked."""
    if len(prefix) < 6:
        return 0
    keys = auth_repository.active_keys_starting_with(
        session, prefix[:PREFIX_LENGTH], account_id=account_id
    )
    for key in keys:
        key.revoked_at = utcnow()
    return len(keys)


def account_count(*, session: Session) -> int:
    """How many accounts exist (the first start creates a default one)."""
    return auth_repository.count_accounts(session)
