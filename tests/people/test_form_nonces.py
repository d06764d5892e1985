"""A console create form acts once per nonce (``people.form_nonces``), and its records go after
a day."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from beacon.core.db import Database
from beacon.core.security import hash_secret
from beacon.core.timefmt import utcnow
from beacon.people import form_nonces
from beacon.people.models import ConsoleFormNonce, ConsoleSession, User


def _console_session(db: Database, email: str = "admin@acme.example") -> int:
    with db.transaction() as session:
        user = User(email=email, password_hash="-")
        session.add(user)
        session.flush()
        row = ConsoleSession(token_hash=hash_secret(email), user_id=user.id, csrf_token="-")
        session.add(row)
        session.flush()
        return row.id


def _post(db: Database, console_session_id: int, nonce: str, made: str) -> str | object:
    with db.transaction() as session:
        return form_nonces.once(
            session=session,
            console_session_id=console_session_id,
            nonce=nonce,
            create=lambda: made,
            describe=lambda value: value,
        )


def test_a_nonce_creates_once_and_only_its_session_learns_what(db: Database) -> None:
    mine, theirs = _console_session(db), _console_session(db, "other@acme.example")
    nonce = form_nonces.new()

    first = _post(db, mine, nonce, "bk_first")
    again = _post(db, mine, nonce, "bk_second")
    elsewhere = _post(db, theirs, nonce, "bk_third")

    assert first == "bk_first"
    assert again == form_nonces.NotCreated(earlier="bk_first")
    assert elsewhere == form_nonces.NotCreated()
    with db.transaction() as session:
        stored = session.scalars(select(ConsoleFormNonce)).all()
    assert [(row.nonce_hash, row.created_ref) for row in stored] == [
        (hash_secret(nonce), "bk_first")
    ]


def test_records_older_than_a_day_are_pruned_on_insert(db: Database) -> None:
    console_session_id = _console_session(db)
    old, fresh = form_nonces.new(), form_nonces.new()
    _post(db, console_session_id, old, "bk_old")
    with db.transaction() as session:
        session.execute(
            update(ConsoleFormNonce).values(
                created_at=utcnow() - form_nonces.KEPT_FOR - timedelta(minutes=1)
            )
        )

    _post(db, console_session_id, fresh, "bk_fresh")

    with db.transaction() as session:
        kept = session.scalars(select(ConsoleFormNonce.created_ref)).all()
        assert kept == ["bk_fresh"]
    assert _post(db, console_session_id, old, "bk_again") == "bk_again"  # a day later: anew
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ConsoleFormNonce)) == 2
