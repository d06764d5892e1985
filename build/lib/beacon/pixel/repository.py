"""Queries over pixel campaigns. Every read is scoped to the caller's account."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from beacon.pixel.models import PixelCampaign


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
