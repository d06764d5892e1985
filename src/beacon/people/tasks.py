"""Background work of the people domain: dropping console sessions nobody can resume."""

from __future__ import annotations

from datetime import timedelta

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.jobs import PeriodicTask
from beacon.people import sessions

PRUNE_EVERY_SECONDS = 3600.0
# Kept a day past the idle timeout: a row idle that long is one no cookie can resume.
_GRACE = timedelta(days=1)


def prune_sessions_task(settings: Settings) -> PeriodicTask:
    """Hourly: delete console sessions idle past the idle timeout (signed out, expired or
    abandoned), so each sign-in does not leave a row behind for good."""
    older_than = timedelta(minutes=settings.console_session_idle_minutes) + _GRACE

    def run(db: Database) -> None:
        with db.transaction() as session:
            sessions.prune(session=session, older_than=older_than)

    return PeriodicTask(name="people.prune_sessions", interval=PRUNE_EVERY_SECONDS, run=run)
