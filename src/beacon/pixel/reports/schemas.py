"""Wire format of campaign reports (seed 000) and publisher reports (docs/measure.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from beacon.contextual.brand_safety import LEVELS, RiskLevel
from beacon.core.codes import (
    ANY_CASE_COUNTRY_DESCRIPTION,
    any_case_country_code_schema,
    country_code,
)
from beacon.core.errors import quoted
from beacon.core.ids import StrictId
from beacon.core.lists import UNIQUE_ITEMS, distinct
from beacon.core.openapi import generate_within
from beacon.core.registrable_domains import registrable_domain
from beacon.core.timefmt import MAX_REPORT_DAYS, ISODate, UTCSeconds, date_range_problem
from beacon.core.urls import PUBLIC_DOMAIN_PATTERN

CampaignDimension = Literal["date", "domain", "url", "device", "geo"]
PublisherDimension = Literal[
    "date", "domain", "url", "device", "geo", "traffic_type", "agent", "ivt_reason"
]
Device = Literal["desktop", "mobile", "tablet", "ctv"]
TrafficType = Literal["human", "bot", "ai_agent"]

MAX_RANGE_DAYS = MAX_REPORT_DAYS
MAX_FILTER_VALUES = 1000
DEFAULT_LIMIT, MAX_LIMIT = 1000, 10_000


def country(code: str) -> str:
    return country_code(code)


# What the document states: host names under a few public suffixes, every match of which the
# Public Suffix List check accepts (the server accepts any registrable domain or URL).
REGISTRABLE_DOMAIN_PATTERN = f"^{PUBLIC_DOMAIN_PATTERN}$"


def domain(value: str) -> str:
    # Rollups hold registrable domains, so "www.nytimes.com" must filter as "nytimes.com".
    domain = registrable_domain(value.strip().lower())
    if domain is None:
        raise ValueError(f"{quoted(value)} is not a domain name")
    return domain


class _Filters(BaseModel):
    """Unknown keys are a 422 naming the key, not the generic 400 for unknown parameters."""

    # The document states the closed set of keys (``additionalProperties: false``).
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})

    domains: (
        list[
            Annotated[
                str, Field(json_schema_extra=generate_within(pattern=REGISTRABLE_DOMAIN_PATTERN))
            ]
        ]
        | None
    ) = Field(default=None, max_length=MAX_FILTER_VALUES)
    devices: list[Device] | None = Field(default=None, max_length=4)
    geo: list[Annotated[str, Field(json_schema_extra=any_case_country_code_schema())]] | None = (
        Field(
            default=None,
            max_length=MAX_FILTER_VALUES,
            description=f"Countries: each {ANY_CASE_COUNTRY_DESCRIPTION[0].lower()}"
            f"{ANY_CASE_COUNTRY_DESCRIPTION[1:]}",
        )
    )

    @model_validator(mode="after")
    def _known_keys(self) -> _Filters:
        unknown = sorted(self.model_extra or {})
        if unknown:
            allowed = ", ".join(type(self).model_fields)
            raise ValueError(f"unknown filter key {quoted(unknown[0])}. Supported keys: {allowed}")
        return self

    @field_validator("domains")
    @classmethod
    def _domains(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else sorted({domain(v) for v in values})

    @field_validator("geo")
    @classmethod
    def _geo(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else sorted({country(v) for v in values})

    @field_validator("devices")
    @classmethod
    def _devices(cls, values: list[Device] | None) -> list[Device] | None:
        return None if values is None else sorted(set(values))

    def normalized(self) -> dict[str, Any]:
        """The filters that narrow anything, lists sorted (the dedup key depends on it)."""
        return {
            k: list(v) if isinstance(v, list) else v
            for k, v in self.model_dump(exclude_none=True).items()
        }


class CampaignFilters(_Filters):
    brand_safety_max_risk: RiskLevel | None = Field(
        default=None,
        description=f"Count only impressions on pages whose overall brand-safety risk is at "
        f"most this level, one of {', '.join(LEVELS)} (least to most severe). Pages above it, "
        f"and pages without a brand-safety classification (not yet classified, failed, or "
        f"classified before brand safety existed), are left out of the rows and the summary.",
    )


class PublisherFilters(_Filters):
    traffic_types: list[TrafficType] | None = Field(default=None, max_length=3)

    @field_validator("traffic_types")
    @classmethod
    def _traffic_types(cls, values: list[TrafficType] | None) -> list[TrafficType] | None:
        return None if values is None else sorted(set(values))


# a dimension asked twice is refused at its repeat, as every request list is (core.lists)
_DISTINCT = distinct()


class _ReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    campaign_id: StrictId = Field(description="The pixel campaign ID")
    start_date: ISODate = Field(description="Start of the reporting period (inclusive)")
    end_date: ISODate = Field(
        description=(
            "End of the reporting period (inclusive): not before start_date; the period "
            f"covers at most {MAX_RANGE_DAYS} days, start_date and end_date included"
        )
    )

    @field_validator("end_date")
    @classmethod
    def _range(cls, end: dt.date, info: ValidationInfo) -> dt.date:
        start = info.data.get("start_date")
        if start is None:
            return end
        problem = date_range_problem(start, end, max_days=MAX_RANGE_DAYS)
        if problem:
            raise ValueError(problem)
        return end


class CampaignReportCreate(_ReportCreate):
    dimensions: Annotated[list[CampaignDimension], _DISTINCT] | None = Field(
        json_schema_extra=UNIQUE_ITEMS,
        default=None,
        description="Breakdown dimensions. Omit for summary only.",
    )
    # Strict: a JSON boolean, never "yes" or 1 (a lax bool took both as true)
    include_classification: StrictBool = Field(
        default=False, description="Include contextual classification for served URLs"
    )
    filters: CampaignFilters = Field(default_factory=CampaignFilters)


class PublisherReportCreate(_ReportCreate):
    dimensions: Annotated[list[PublisherDimension], _DISTINCT] | None = Field(
        json_schema_extra=UNIQUE_ITEMS,
        default=None,
        description="Breakdown dimensions. Omit for summary only.",
    )
    filters: PublisherFilters = Field(default_factory=PublisherFilters)


class Pagination(BaseModel):
    limit: int
    offset: int
    total: int


class _OptionalTail(BaseModel):
    """``pagination`` appears beside ``data`` once complete, ``error`` once failed."""

    @model_serializer(mode="wrap")
    def _drop_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        body: dict[str, Any] = handler(self)
        for optional in ("pagination", "error"):
            if body.get(optional) is None:
                body.pop(optional, None)
        return body


Status = Literal["pending", "processing", "complete", "failed"]


class CampaignReport(_OptionalTail):
    id: int
    status: Status
    campaign_id: int
    start_date: dt.date
    end_date: dt.date
    dimensions: list[str] | None
    include_classification: bool
    created_date: UTCSeconds
    processed_date: UTCSeconds | None
    summary: dict[str, Any] | None
    data: list[dict[str, Any]] | None
    pagination: Pagination | None = None
    error: str | None = None


class PublisherReport(_OptionalTail):
    id: int
    status: Status
    campaign_id: int
    start_date: dt.date
    end_date: dt.date
    dimensions: list[str] | None
    created_date: UTCSeconds
    processed_date: UTCSeconds | None
    summary: dict[str, Any] | None
    data: list[dict[str, Any]] | None
    pagination: Pagination | None = None
    error: str | None = None
