"""Wire format of the pixel campaign API (seed 002)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from beacon.core.text import NonBlank
from beacon.core.timefmt import UTCSeconds


class UseCase(StrEnum):
    campaign_optimization = "campaign_optimization"
    campaign_reporting = "campaign_reporting"
    publisher_bot_detection = "publisher_bot_detection"
    publisher_agent_targeting = "publisher_agent_targeting"
    other = "other"


CAMPAIGN_USE_CASES = frozenset({UseCase.campaign_optimization, UseCase.campaign_reporting})
PUBLISHER_USE_CASES = frozenset(
    {UseCase.publisher_bot_detection, UseCase.publisher_agent_targeting}
)

NAME_MAX = 200
DESCRIPTION_MAX = 2000


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: NonBlank = Field(max_length=NAME_MAX, description="Display name (1-200 characters)")
    use_case: UseCase = Field(description="How this pixel will be used")
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)


class CampaignUpdate(BaseModel):
    """Partial update: only the fields present in the body change."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[NonBlank, Field(max_length=NAME_MAX)] | SkipJsonSchema[None] = None
    use_case: UseCase | SkipJsonSchema[None] = None
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)

    @field_validator("name", "use_case")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class Campaign(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    use_case: UseCase
    description: str | None
    created_date: UTCSeconds
    last_updated_date: UTCSeconds
