"""Wire format of the pixel campaign API (seed 002)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

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
NON_BLANK = re.compile(r"[^\x00-\x20]")  # same meaning in Python and in the JSON Schema (ECMA)
DESCRIPTION_MAX = 2000


def _name(value: object) -> object:
    if isinstance(value, str):
        if not NON_BLANK.search(value):
            raise ValueError("must not be empty")
        return value.strip(" \t\n\r\f\v")
    return value


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=NAME_MAX,
        pattern=NON_BLANK.pattern,
        description="Display name (1-200 characters)",
    )
    use_case: UseCase = Field(description="How this pixel will be used")
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)

    _check_name = field_validator("name", mode="before")(_name)


class CampaignUpdate(BaseModel):
    """Partial update: only the fields present in the body change."""

    model_config = ConfigDict(extra="forbid")

    name: (
        Annotated[str, Field(min_length=1, max_length=NAME_MAX, pattern=NON_BLANK.pattern)]
        | SkipJsonSchema[None]
    ) = None
    use_case: UseCase | SkipJsonSchema[None] = None
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)

    _check_name = field_validator("name", mode="before")(_name)

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
