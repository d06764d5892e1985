"""The sign-in quotas on both databases: however an email is spelled, and wherever a password
is checked, failed guesses count against the same per-email and per-address quotas."""

from __future__ import annotations

import pytest

from beacon.core.db import Database
from beacon.core.errors import Unauthorized
from beacon.core.permissions import Role
from beacon.core.ratelimit import RateLimiter
from beacon.people import service, sessions

PASSWORD = "a long enough password"
EMAIL = "victim@example.com"


def _throttle(*, per_ip: str = "1000/15 minutes") -> sessions.LoginThrottle:
    return sessions.LoginThrottle(limiter=RateLimiter(), per_email="5/15 minutes", per_ip=per_ip)


def _user(db: Database, email: str = EMAIL, account: str = "acme") -> None:
    with db.transaction() as session:
        service.ensure_member(
            session=session, account_name=account, email=email, role=Role.owner, password=PASSWORD
        )


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
