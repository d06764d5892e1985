"""Queries over pixel campaigns. Every read is scoped to the caller's account."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session

from beacon.core.db import is_postgres
from beacon.pixel.models import PixelCampaign, PixelRollup, PixelSiteDay

# Rollup ids are handed out when a flush inserts a row and become visible when the flush
# commits; on PostgreSQL two flushes commit in either order, so a reader that remembers the
# highest id it saw (the inventory's and the classifier's cursors) would skip for good a row a
# slower flush inserted below it. Every rollup write holds this lock shared until it commits; a
# cursor reader takes it alone for an instant, so every id up to the highest it then sees is
# committed (SQLite has one writer at a time: its ids become visible in order).
_ROLLUP_WRITERS = "beacon:pixel-rollup-writers"


def hold_rollup_writes(session: Session) -> None:
    """Before a transaction writes rollups: its ids count as in flight until it ends."""
    if is_postgres(session):
        key = func.hashtextextended(_ROLLUP_WRITERS, 0)
        session.execute(select(func.pg_advisory_xact_lock_shared(key)))


def _below_writes_in_flight(session: Session) -> ColumnElement[bool]:
    """Rollup ids no flush still in flight can hold: every id on SQLite; on PostgreSQL those up
    to the highest id once the flushes that were running have ended."""
    if not is_postgres(session):
        return true()
    # A short transaction of its own, so the lock ends with it whatever happens, and the
    # caller's transaction (a segment build) never keeps flushes waiting.
    with session.get_bind().engine.begin() as connection:
        connection.execute(
            select(func.pg_advisory_xact_lock(func.hashtextextended(_ROLLUP_WRITERS, 0)))
        )
        highest = connection.scalar(select(func.max(PixelRollup.id))) or 0
    return PixelRollup.id <= highest


def get_campaign(session: Session, *, account_id: int, campaign_id: int) -> PixelCampaign | None:
    """The account's campaign with this id, or None (another account's id is None too)."""
    return session.scalar(
        select(PixelCampaign).where(
            PixelCampaign.id == campaign_id, PixelCampaign.account_id == account_id
        )
    )


def list_campaigns(session: Session, *, account_id: int) -> Sequence[PixelCampaign]:
    """The account's campaigns, oldest first."""
    return session.scalars(
        select(PixelCampaign)
        .where(PixelCampaign.account_id == account_id)
        .order_by(PixelCampaign.id)
    ).all()


def add_campaign(session: Session, campaign: PixelCampaign) -> PixelCampaign:
    """Insert and flush so the id is assigned."""
    session.add(campaign)
    session.flush()
    return campaign


def human_impressions_between(
    session: Session, *, campaign_ids: Sequence[int], first: dt.date, last: dt.date
) -> list[tuple[int, dt.date, int]]:
    """(campaign id, day, human loads) per day from ``first`` to ``last`` (inclusive), from the
    site-day rollup."""
    if not campaign_ids:
        return []
    rows = session.execute(
        select(PixelSiteDay.campaign_id, PixelSiteDay.date, func.sum(PixelSiteDay.human))
        .where(
            PixelSiteDay.campaign_id.in_(campaign_ids),
            PixelSiteDay.date >= first,
            PixelSiteDay.date <= last,
        )
        .group_by(PixelSiteDay.campaign_id, PixelSiteDay.date)
    )
    return [(int(c), d, int(h or 0)) for c, d, h in rows]


def recent_rollups(
    session: Session, *, campaign_id: int, since: dt.date, limit: int
) -> Sequence[PixelRollup]:
    """The campaign's rollup rows that counted hits most recently (newest first)."""
    return session.scalars(
        select(PixelRollup)
        .where(
            PixelRollup.campaign_id == campaign_id,
            PixelRollup.date >= since,
            PixelRollup.last_hit_at.is_not(None),
        )
        .order_by(PixelRollup.last_hit_at.desc(), PixelRollup.id.desc())
        .limit(limit)
    ).all()


def campaign_page_urls(session: Session, campaign_id: int) -> list[tuple[str, str]]:
    """Every distinct (page URL, domain) a campaign's rollups have seen."""
    rows = session.execute(
        select(PixelRollup.url, PixelRollup.domain)
        .where(PixelRollup.campaign_id == campaign_id, PixelRollup.url != "")
        .distinct()
    )
    return [(url, domain) for url, domain in rows]


def page_urls_after(session: Session, *, after_id: int, limit: int) -> list[tuple[int, str, str]]:
    """(rollup id, page URL, domain) of at most ``limit`` rollup rows with a page URL whose id
    is above ``after_id``, in id order."""
    rows = session.execute(
        select(PixelRollup.id, PixelRollup.url, PixelRollup.domain)
        .where(
            PixelRollup.id > after_id,
            _below_writes_in_flight(session),
            PixelRollup.url != "",
        )
        .order_by(PixelRollup.id)
        .limit(limit)
    )
    return [(row_id, url, domain) for row_id, url, domain in rows]


def account_page_urls_after(
    session: Session, *, account_id: int, after_id: int, limit: int
) -> list[tuple[int, str, str]]:
    """(rollup id, url, domain) of the account's pixel rollups newer than ``after_id``."""
    rows = session.execute(
        select(PixelRollup.id, PixelRollup.url, PixelRollup.domain)
        .join(PixelCampaign, PixelCampaign.id == PixelRollup.campaign_id)
        .where(
            PixelCampaign.account_id == account_id,
            PixelRollup.id > after_id,
            _below_writes_in_flight(session),
        )
        .order_by(PixelRollup.id)
        .limit(limit)
    ).all()
    return [(int(i), url, domain) for i, url, domain in rows]
