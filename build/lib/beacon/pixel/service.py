"""Pixel campaign registration (seed 002)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from beacon.core.errors import not_found
from beacon.core.timefmt import utcnow
from beacon.pixel import repository
from beacon.pixel.models import PixelCampaign
from beacon.pixel.schemas import CampaignCreate, CampaignUpdate


def create_campaign(*, session: Session, account_id: int, data: CampaignCreate) -> PixelCampaign:
    """Register a pixel campaign for the account."""
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
    *, session: Session, account_id: int, campaign_id: int, data: CampaignUpdate
) -> PixelCampaign:
    """Apply the fields present in ``data``; ``last_updated_date`` moves, ``created_date`` not."""
    campaign = get_campaign(session=session, account_id=account_id, campaign_id=campaign_id)
    changes = data.model_dump(exclude_unset=True)
    for field_name, value in changes.items():
        setattr(campaign, field_name, value.value if field_name == "use_case" else value)
    campaign.last_updated_date = utcnow()
    session.flush()
    return campaign
