"""Console create forms act once per nonce: those that make a secret (an API key, an OAuth
client) and, through ``console.pages._forms.once``, every other create form (and Remove of a
member, whose repeat is done).

Each such form carries a one-time random nonce (``new``), made when the page is rendered and
stored nowhere. The POST answers the page with the secret itself; ``once`` first records the
nonce's hash with the console session and then, in the same transaction, creates the thing and
records what it made (never the secret). A second post of the same form (a reload, a double
click, a post to another server behind the load balancer) hits the unique hash and creates
nothing: its answer names what the first one made, to the session that made it only.

A post whose nonce is missing or not of the shape ``new`` creates nothing (the page says so
and carries a fresh form). A well-formed nonce never seen before cannot be told from a fresh
one (nonces are not stored when made): it creates, and is recorded like any other. Records are
kept for ``KEPT_FOR``; a form re-posted later than that creates again."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from sqlalchemy.orm import Session

from beacon.core.security import hash_secret
from beacon.core.timefmt import utcnow
from beacon.people import repository
from beacon.people.models import ConsoleFormNonce

T = TypeVar("T")

KEPT_FOR = timedelta(days=1)
_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


@dataclass(frozen=True)
class NotCreated:
    """A post that created nothing. ``earlier`` is what an earlier post of the same form by the
    same session created (a key prefix, a client id); empty when the nonce was missing,
    malformed or posted by another session, which learns nothing."""

    earlier: str = ""


def new() -> str:
    """A fresh nonce for a create form's hidden field."""
    return secrets.token_urlsafe(32)


def once(
    *,
    session: Session,
    console_session_id: int,
    nonce: str,
    create: Callable[[], T],
    describe: Callable[[T], str],
) -> T | NotCreated:
    """``create()`` unless the form's ``nonce`` was posted before (then ``NotCreated``). The
    nonce is recorded first (records older than ``KEPT_FOR`` go), then what was made, as
    ``describe`` names it. When ``create`` raises, the nonce is left unused, so that the
    corrected form can be posted again."""
    if not _SHAPE.fullmatch(nonce):
        return NotCreated()
    now = utcnow()
    # Keep this statement before the savepoint: on SQLite it opens the request's transaction,
    # so the savepoint below nests in it (opened first, its release would commit early).
    repository.prune_form_nonces(session, before=now - KEPT_FOR)
    row = ConsoleFormNonce(
        nonce_hash=hash_secret(nonce), session_id=console_session_id, created_at=now
    )
    with session.begin_nested():  # a create that raises rolls the nonce back with it
        if not repository.add_form_nonce(session, row):
            return _earlier(session, console_session_id=console_session_id, nonce=nonce)
        made = create()
        row.created_ref = describe(made)
        session.flush()
    return made


def made_by(*, session: Session, console_session_id: int, created_ref: str) -> bool:
    """Whether any form this console session posted in the last ``KEPT_FOR`` made
    ``created_ref`` (another tab's form of the same person, whose nonce differs)."""
    since = utcnow() - KEPT_FOR
    return repository.form_made(
        session, session_id=console_session_id, created_ref=created_ref, since=since
    )


def _earlier(session: Session, *, console_session_id: int, nonce: str) -> NotCreated:
    used = repository.form_nonce(session, hash_secret(nonce))
    if used is None or used.session_id != console_session_id:
        return NotCreated()
    return NotCreated(earlier=used.created_ref)
