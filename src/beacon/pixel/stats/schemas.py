"""Wire format of `GET /v1/pixel/campaigns/{id}/stats` (docs/measure.md, "Campaign stats")."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, cast, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
)

from beacon.core.codes import ANY_CASE_COUNTRY_DESCRIPTION, any_case_country_code_schema
from beacon.core.errors import quoted
from beacon.core.openapi import generate_within
from beacon.core.timefmt import ISODate, date_range_problem, utcnow
from beacon.pixel.reports.schemas import (
    MAX_FILTER_VALUES,
    MAX_RANGE_DAYS,
    REGISTRABLE_DOMAIN_PATTERN,
    Device,
)
from beacon.pixel.reports.schemas import country as parse_country
from beacon.pixel.reports.schemas import domain as parse_domain

Interval = Literal["hour", "day"]
Dimension = Literal["domain", "url", "device", "country", "agent", "operator", "misrepresented"]
DIMENSIONS: tuple[Dimension, ...] = (
    "domain", "url", "device", "country", "agent", "operator", "misrepresented",
)  # fmt: skip
DEFAULT_TOP, MAX_TOP = 10, 100
DEFAULT_RANGE_DAYS = 30
HOURLY_UNAVAILABLE = (
    "hourly stats are not available: pixel rollups keep one row per campaign and UTC day, "
    "no hours; use interval=day"
)


DEVICES: tuple[Device, ...] = get_args(Device)
EMPTY_ITEM = "an item is empty: separate values with single commas, or omit the parameter"


def _listed(values: list[str] | None) -> list[str]:
    """Repeated parameters and comma-separated values alike: ``a,b&x=c`` -> ``[a, b, c]``. An
    empty item (``a,,b``, ``a,``, ``x=``) is refused, as any other invalid value: skipping it
    made ``domain=,,`` an unfiltered 200 while ``device=,`` was a 422."""
    items = [part.strip() for value in values or [] for part in value.split(",")]
    if not all(items):
        raise ValueError(EMPTY_ITEM)
    return items


def _list_pattern(values: tuple[str, ...]) -> str:
    """What the document states: each value names allowed values, comma-separated."""
    return f"^({'|'.join(values)})(,({'|'.join(values)}))*$"


_DIMENSION_LIST_PATTERN = _list_pattern(DIMENSIONS)


class StatsQuery(BaseModel):
    """The query string of the stats endpoint (and of the console dashboard's URL)."""

    model_config = ConfigDict(extra="forbid")

    start_date: ISODate | None = Field(
        default=None,
        description=f"First day (UTC), inclusive. Default: {DEFAULT_RANGE_DAYS} days before end_date.",
    )
    end_date: ISODate | None = Field(
        default=None,
        validate_default=True,
        description="Last day (UTC), inclusive. Default: today.",
    )
    interval: Interval = Field(
        default="day",
        description="Series step. Only `day` is kept (`hour` answers a 422 saying so).",
        json_schema_extra={"enum": ["day"]},
    )
    dimension: list[
        Annotated[str, Field(json_schema_extra={"pattern": _DIMENSION_LIST_PATTERN})]
    ] = Field(
        default_factory=list,
        validate_default=True,
        description="Breakdowns to include, repeated or comma-separated: "
        + ", ".join(DIMENSIONS)
        + ". Default: all.",
    )
    top: int = Field(default=DEFAULT_TOP, ge=1, le=MAX_TOP, description="Rows per breakdown.")
    domain: list[
        Annotated[str, Field(json_schema_extra=generate_within(pattern=REGISTRABLE_DOMAIN_PATTERN))]
    ] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    device: list[Annotated[str, Field(json_schema_extra={"pattern": _list_pattern(DEVICES)})]] = (
        Field(default_factory=list, max_length=len(DEVICES))
    )
    country: list[Annotated[str, Field(json_schema_extra=any_case_country_code_schema())]] = Field(
        default_factory=list,
        max_length=MAX_FILTER_VALUES,
        description="Countries, repeated or comma-separated: each "
        f"{ANY_CASE_COUNTRY_DESCRIPTION[0].lower()}{ANY_CASE_COUNTRY_DESCRIPTION[1:]}",
    )

    @field_validator("end_date")
    @classmethod
    def _range(cls, end: dt.date | None, info: ValidationInfo) -> dt.date:
        today = utcnow().date()
        end = end or today
        start = info.data.get("start_date") or end - dt.timedelta(days=DEFAULT_RANGE_DAYS - 1)
        problem = date_range_problem(start, end, max_days=MAX_RANGE_DAYS)
        if problem:
            raise ValueError(problem)
        return end

    @field_validator("interval")
    @classmethod
    def _daily_only(cls, interval: Interval) -> Interval:
        if interval == "hour":
            raise ValueError(HOURLY_UNAVAILABLE)
        return interval

    @field_validator("dimension")
    @classmethod
    def _dimensions(cls, values: list[str]) -> list[str]:
        wanted = _listed(values)
        for value in wanted:
            if value not in DIMENSIONS:
                raise ValueError(
                    f"unknown dimension {quoted(value)}. Allowed values: {', '.join(DIMENSIONS)}"
                )
        return [d for d in DIMENSIONS if d in wanted] if wanted else list(DIMENSIONS)

    @field_validator("domain")
    @classmethod
    def _domains(cls, values: list[str]) -> list[str]:
        return sorted({parse_domain(v) for v in _listed(values)})

    @field_validator("country")
    @classmethod
    def _countries(cls, values: list[str]) -> list[str]:
        return sorted({parse_country(v) for v in _listed(values)})

    @field_validator("device")
    @classmethod
    def _devices(cls, values: list[str]) -> list[Device]:
        wanted = _listed(values)
        for value in wanted:
            if value not in DEVICES:
                raise ValueError(
                    f"unknown device {quoted(value)}. Allowed values: {', '.join(DEVICES)}"
                )
        return sorted(set(cast(list[Device], wanted)))

    @property
    def start(self) -> dt.date:
        """The first day, the default applied."""
        end = self.end
        return self.start_date or end - dt.timedelta(days=DEFAULT_RANGE_DAYS - 1)

    @property
    def end(self) -> dt.date:
        """The last day (validated, so never None)."""
        assert self.end_date is not None
        return self.end_date


class Traffic(BaseModel):
    """Loads (every pixel load) split by traffic type; ``human`` loads are impressions."""

    loads: int
    human: int
    bot: int
    ai_agent: int


class Shares(BaseModel):
    human: float
    bot: float
    ai_agent: float


class Totals(Traffic):
    impressions: int
    shares: Shares
    misrepresented_impressions: int
    misrepresented_share: float
    measurable_impressions: int = Field(
        default=0, description="Impressions the script tag could measure (docs/measure.md)."
    )
    viewable_impressions: int = Field(
        default=0, description="Measurable impressions that met the MRC viewability threshold."
    )
    viewability_rate: float | None = Field(
        default=None,
        description="viewable / measurable impressions; null when none was measurable.",
    )


class SeriesPoint(Traffic):
    period: str


class ValueRow(Traffic):
    """One domain, device or country; ``value`` is null where it was unknown."""

    value: str | None
    share: float


class UrlRow(BaseModel):
    url: str | None
    domain: str | None
    impressions: int
    share: float


class AgentRow(BaseModel):
    agent: str | None
    type: Literal["bot", "ai_agent"]
    operator: str | None
    function: str | None
    loads: int
    share: float


class OperatorRow(BaseModel):
    operator: str | None
    loads: int
    bot: int
    ai_agent: int
    agents: list[str]
    share: float


class MisrepresentedRow(BaseModel):
    declared_domain: str | None
    observed_domain: str | None
    impressions: int
    share: float


class Breakdowns(BaseModel):
    """The requested breakdowns only; each is top-N, largest first."""

    domain: list[ValueRow] | None = None
    url: list[UrlRow] | None = None
    device: list[ValueRow] | None = None
    country: list[ValueRow] | None = None
    agent: list[AgentRow] | None = None
    operator: list[OperatorRow] | None = None
    misrepresented: list[MisrepresentedRow] | None = None

    @model_serializer(mode="wrap")
    def _requested_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        body: dict[str, Any] = handler(self)
        return {key: value for key, value in body.items() if value is not None}


class AppliedFilters(BaseModel):
    domains: list[str]
    devices: list[str]
    countries: list[str]


class Stats(BaseModel):
    campaign_id: int
    start_date: dt.date
    end_date: dt.date
    interval: Literal["day"]
    timezone: Literal["UTC"]
    filters: AppliedFilters
    totals: Totals
    series: list[SeriesPoint]
    breakdowns: Breakdowns
