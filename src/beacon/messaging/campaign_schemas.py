"""Wire format of messaging campaigns and their observability endpoints (seed 004)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import InitErrorDetails, PydanticCustomError

from beacon.core.openapi import generate_within
from beacon.core.text import NonBlank
from beacon.core.timefmt import RANGE_PROBLEM, ISODateTime, UTCMillis, in_range, iso_millis
from beacon.messaging.campaigns.clock import resolve_local_time
from beacon.messaging.schemas import TIMEZONES, Channel, InModel, OutModel, check_timezone

CampaignType = Literal["broadcast", "triggered", "journey"]
AuthoringStatus = Literal["draft", "published", "archived"]
ExecutionState = Literal[
    "not_scheduled", "scheduled", "pending_or_overdue", "running", "completed", "failed"
]
CheckStatus = Literal["passed", "warning", "failed"]

NAME_MAX = 200
AUDIENCE_MAX = 50


def local_to_utc(value: datetime | None, timezone: str) -> datetime | None:
    """A naive ``sendAt`` is wall-clock time in the campaign's timezone (DST-aware); ValueError
    when that instant is out of the accepted range in UTC."""
    if value is None:
        return None
    utc = resolve_local_time(value, timezone)
    # ISODateTime checked a naive value by its own calendar day, before its zone was known:
    # 2999-12-31T23:30 in America/Los_Angeles passed, and is 3000-01-01T07:30Z.
    if not in_range(utc):
        raise ValueError(
            f"{value.isoformat()} in {timezone} is {iso_millis(utc)}: {RANGE_PROBLEM} (in UTC)"
        )
    return utc


def _send_at_error(problem: str, send_at: datetime) -> ValidationError:
    """The refusal of ``sendAt`` where only the whole schedule knows it (its timezone): located
    at the field, so the 422 names ``schedule.sendAt`` as every other sendAt error does."""
    error = PydanticCustomError("datetime_range", "{problem}", {"problem": problem})
    return ValidationError.from_exception_data(
        "ScheduleIn", [InitErrorDetails(type=error, loc=("sendAt",), input=send_at)]
    )


class AudienceIn(InModel):
    included: list[uuid.UUID] = Field(default_factory=list, max_length=AUDIENCE_MAX)
    excluded: list[uuid.UUID] = Field(default_factory=list, max_length=AUDIENCE_MAX)


class ScheduleIn(InModel):
    """`mode` `now` sends when POST /send is called (no `sendAt`); `at` sends at `sendAt`.
    A `sendAt` without a `mode` is `at`."""

    model_config = ConfigDict(
        json_schema_extra=generate_within(
            anyOf=[
                {"properties": {"mode": {"const": "now"}, "sendAt": {"type": "null"}}},
                {
                    "properties": {"mode": {"const": "at"}, "sendAt": {"type": "string"}},
                    "required": ["sendAt"],
                },
            ]
        )
    )

    mode: Literal["now", "at"] = "now"
    send_at: ISODateTime | None = None
    timezone: str = Field(default="UTC", json_schema_extra={"enum": TIMEZONES})

    _check_timezone = field_validator("timezone")(check_timezone)

    @model_validator(mode="after")
    def _send_at_with_at(self) -> ScheduleIn:
        # a sendAt beside mode 'now' was stored, shown and never armed: the campaign sat
        # waiting for a POST /send its author did not know it needed
        if "mode" not in self.model_fields_set and self.send_at is not None:
            self.mode = "at"
        if self.mode == "at" and self.send_at is None:
            raise ValueError("sendAt is required when mode is 'at'")
        if self.mode == "now" and self.send_at is not None:
            raise ValueError("sendAt goes with mode 'at'; mode 'now' sends when /send is called")
        written = self.send_at
        try:
            self.send_at = local_to_utc(written, self.timezone)
        except ValueError as exc:
            assert written is not None  # local_to_utc refuses only a time
            raise _send_at_error(str(exc), written) from None
        return self


class ScheduleRequest(InModel):
    """Body of POST /campaigns/:id/schedule."""

    send_at: ISODateTime
    timezone: str | None = Field(default=None, json_schema_extra={"enum": TIMEZONES})

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)


class CampaignCreate(InModel):
    name: NonBlank = Field(max_length=NAME_MAX)
    channel: Channel
    campaign_type: CampaignType = "broadcast"
    audience: AudienceIn = Field(default_factory=AudienceIn)
    template_id: uuid.UUID | None = None
    schedule: ScheduleIn = Field(default_factory=ScheduleIn)


class CampaignUpdate(InModel):
    """Partial update of a draft: only the fields present change."""

    # null is refused for all but templateId (which detaches the template): not in the schema
    name: Annotated[NonBlank, Field(max_length=NAME_MAX)] | SkipJsonSchema[None] = None
    channel: Channel | SkipJsonSchema[None] = None
    campaign_type: CampaignType | SkipJsonSchema[None] = None
    audience: AudienceIn | SkipJsonSchema[None] = None
    template_id: uuid.UUID | None = None
    schedule: ScheduleIn | SkipJsonSchema[None] = None

    @field_validator("name", "channel", "campaign_type", "audience", "schedule")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class AudienceOut(OutModel):
    included: list[uuid.UUID]
    excluded: list[uuid.UUID]


class ScheduleOut(OutModel):
    mode: str
    send_at: UTCMillis | None
    timezone: str


class CampaignOut(OutModel):
    campaign_id: uuid.UUID
    name: str
    channel: str
    campaign_type: str
    authoring_status: str
    audience: AudienceOut
    template_id: uuid.UUID | None
    schedule: ScheduleOut
    created_at: UTCMillis
    updated_at: UTCMillis
    archived_at: UTCMillis | None


# --- observability -----------------------------------------------------------------------


class PipelineCounts(OutModel):
    scheduled: int = 0
    hydrated: int = 0
    composed: int = 0
    injected: int = 0
    sent: int = 0
    failed: int = 0


class SummarySchedule(OutModel):
    mode: str
    send_at: UTCMillis | None
    timezone: str
    scheduled: bool


class AudienceRef(OutModel):
    id: uuid.UUID
    name: str | None
    type: Literal["segment"] = "segment"
    member_count: None = None


class Reach(OutModel):
    status: Literal["ok", "pending", "not_evaluated", "failed"]
    evaluated_count: int | None
    evaluated_at: UTCMillis | None
    is_stale: bool | None


class SummaryAudience(OutModel):
    included: list[AudienceRef]
    excluded: list[AudienceRef]
    reach: Reach


class TemplateRef(OutModel):
    id: uuid.UUID
    name: str
    status: str
    channel: str


class SummaryContent(OutModel):
    template: TemplateRef | None
    proof_status: Literal["unavailable", "rendered", "failed"]


class PreflightCheck(OutModel):
    id: str
    status: CheckStatus
    message: str


class PreflightOut(OutModel):
    status: Literal["passed", "warning", "failed", "not_evaluated"]
    checks: list[PreflightCheck]


class LatestExecution(OutModel):
    status: ExecutionState
    last_execution_at: UTCMillis | None
    counts: PipelineCounts | None


class Links(OutModel):
    self_link: str = Field(alias="self")


class CampaignSummary(OutModel):
    campaign_id: uuid.UUID
    name: str
    campaign_type: str
    channel: str
    authoring_status: str
    created_at: UTCMillis
    updated_at: UTCMillis
    schedule: SummarySchedule
    audience: SummaryAudience
    content: SummaryContent
    preflight: PreflightOut
    latest_execution: LatestExecution
    links: Links


class StatusSchedule(OutModel):
    schedule_id: str | None
    send_at: UTCMillis | None
    timezone: str
    active: bool


class LastExecution(OutModel):
    execution_id: str
    started_at: UTCMillis | None
    completed_at: UTCMillis | None
    status: str
    counts: PipelineCounts


class ExecutionStatus(OutModel):
    state: ExecutionState
    last_execution: LastExecution | None


class CampaignStatus(OutModel):
    campaign_id: uuid.UUID
    name: str
    authoring_status: str
    schedule: StatusSchedule
    execution: ExecutionStatus


class CampaignMetrics(OutModel):
    campaign_id: uuid.UUID
    name: str
    channel: str
    execution_count: int
    last_execution_id: str | None
    counts: PipelineCounts
    computed_at: UTCMillis


class ExecutionOut(OutModel):
    execution_id: str
    campaign_id: uuid.UUID
    status: str
    trigger: str
    scheduled_for: UTCMillis
    started_at: UTCMillis | None
    completed_at: UTCMillis | None
    cancel_requested_at: UTCMillis | None
    error: str | None
    counts: PipelineCounts
    created_at: UTCMillis


RecipientState = Literal["scheduled", "hydrated", "composed", "injected", "sent", "failed"]


class RecipientOut(OutModel):
    """One contact in one execution: where its message stands, and why it failed."""

    recipient_id: int
    contact_id: uuid.UUID
    channel: Channel
    address: str | None = Field(
        description="Email, phone or one-line postal address; masked unless the token also "
        "holds audiences:read"
    )
    address_masked: bool
    status: RecipientState
    stage: RecipientState = Field(
        description="The stage the row reached; for a failed row, the stage it failed to reach"
    )
    reason: str | None
    updated_at: UTCMillis
