"""Pixel campaign registration (seed 002)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from sqlalchemy.orm import Session

from beacon.core.errors import not_found
from beacon.core.permissions import CREDENTIAL_ROLE, Action, Role, require
from beacon.core.timefmt import utcnow
from beacon.pixel import repository
from beacon.pixel.models import PixelCampaign
from beacon.pixel.schemas import CampaignCreate, CampaignUpdate


@dataclass(frozen=True)
class Impressions:
    today: int
    last_30_days: int


@dataclass(frozen=True)
class RecentHits:
    """Hits the flusher counted lately, grouped as the rollups keep them."""

    counted_at: datetime
    domain: str
    url: str
    device: str
    country: str
    traffic_type: str
    agent: str
    macros: dict[str, str]
    day: dt.date
    hits: int


def create_campaign(
    *, session: Session, account_id: int, data: CampaignCreate, role: Role = CREDENTIAL_ROLE
) -> PixelCampaign:
    """Register a pixel campaign for the account (admins and owners)."""
    require(role, Action.manage_campaigns)
    now = utcnow()
    campaign = PixelCampaign(
        account_id=account_id,
        name=data.name,
        use_case=data.use_case.value,
        description=data.description,
        created_date=now,
        last_updated_date=now,
    )
    return repository.add_campaign(session, campaign)


def get_campaign(*, session: Session, account_id: int, campaign_id: int) -> PixelCampaign:
    """The account's campaign, or a 404 that looks the same for missing and foreign ids."""
    campaign = repository.get_campaign(session, account_id=account_id, campaign_id=campaign_id)
    if campaign is None:
        raise not_found("Campaign", campaign_id)
    return campaign


def list_campaigns(*, session: Session, account_id: int) -> Sequence[PixelCampaign]:
    """The account's campaigns, oldest first."""
    return repository.list_campaigns(session, account_id=account_id)


def update_campaign(
    *,
    session: Session,
    account_id: int,
    campaign_id: int,
    data: CampaignUpdate,
    role: Role = CREDENTIAL_ROLE,
) -> PixelCampaign:
    """Apply the fields present in ``data``; ``last_updated_date`` moves, ``created_date`` not."""
    require(role, Action.manage_campaigns)
    campaign = get_campaign(session=session, account_id=account_id, campaign_id=campaign_id)
    changes = data.model_dump(exclude_unset=True)
    for field_name, value in changes.items():
        setattr(campaign, field_name, value.value if field_name == "use_case" else value)
    campaign.last_updated_date = utcnow()
    session.flush()
    return campaign


def set_archived(
    *, session: Session, account_id: int, campaign_id: int, archived: bool, role: Role
) -> PixelCampaign:
    """Archive a campaign (hidden from the console's list; its pixel keeps counting) or restore it."""
    require(role, Action.manage_campaigns)
    campaign = get_campaign(session=session, account_id=account_id, campaign_id=campaign_id)
    campaign.archived_at = (campaign.archived_at or utcnow()) if archived else None
    session.flush()
    return campaign


def campaign_impressions(
    *, session: Session, campaign_ids: Sequence[int], today: dt.date | None = None
) -> dict[int, Impressions]:
    """Human impressions today and over the last 30 days (today included, UTC) per campaign."""
    today = today or utcnow().date()
    since = today - timedelta(days=29)
    totals: dict[int, list[int]] = {cid: [0, 0] for cid in campaign_ids}
    for campaign_id, day, hits in repository.human_impressions_between(
        session, campaign_ids=campaign_ids, first=since, last=today
    ):
        totals[campaign_id][1] += hits
        if day == today:
            totals[campaign_id][0] += hits
    return {cid: Impressions(t[0], t[1]) for cid, t in totals.items()}


def recent_hits(
    *, session: Session, account_id: int, campaign_id: int, limit: int = 10
) -> list[RecentHits]:
    """The account's campaign's latest counted hits (yesterday and today), newest first, each
    line with its UTC day's count (a line of yesterday is not today's)."""
    get_campaign(session=session, account_id=account_id, campaign_id=campaign_id)
    since = utcnow().date() - timedelta(days=1)
    rows = repository.recent_rollups(session, campaign_id=campaign_id, since=since, limit=limit)
    return [
        RecentHits(
            counted_at=row.last_hit_at or utcnow(),
            domain=row.domain,
            url=row.url,
            device=row.device,
            country=row.geo,
            traffic_type=row.traffic_type,
            agent=row.agent,
            macros=_macros(row.macros),
            day=row.date,
            hits=row.hits,
        )
        for row in rows
    ]


def _macros(stored: str) -> dict[str, str]:
    if not stored:
        return {}
    try:
        value = orjson.loads(stored)
    except orjson.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def account_page_urls_after(
    session: Session, *, account_id: int, after_id: int, limit: int
) -> list[tuple[int, str, str]]:
    """(rollup id, page URL, domain) of up to ``limit`` of the account's rollup rows newer than
    ``after_id``, in id order: the pages its pixels saw, for the activation inventory."""
    return repository.account_page_urls_after(
        session, account_id=account_id, after_id=after_id, limit=limit
    )
