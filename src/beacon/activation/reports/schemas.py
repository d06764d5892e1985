"""Wire format of delivery ingestion and segment reports (seed 001)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
)

from beacon.activation.schemas import (
    CountryCode,
    Device,
    FailureReason,
    Format,
    absent,
)
from beacon.core.errors import quoted
from beacon.core.ids import StrictId
from beacon.core.lists import UNIQUE_ITEMS, distinct
from beacon.core.openapi import generate_within
from beacon.core.text import NonBlank
from beacon.core.timefmt import MAX_REPORT_DAYS, ISODate, UTCSeconds
from beacon.core.urls import PUBLIC_DOMAIN_PATTERN, host_name

Dimension = Literal["date", "device", "format", "domain"]

# The most rows ``GET /v1/clsfy/reports/{id}`` returns without ``?limit=``. Seed 001 has no
# paging and its example reads ``len(report["data"])``, so an unpaged request gets every row;
# a larger report is refused with a message that says to page, never silently cut short.
# 100,000 rows are about 13 MB of JSON.
MAX_UNPAGED_REPORT_ROWS = 100_000


class ReportPagination(BaseModel):
    limit: int | None = Field(description="The ?limit= asked for; null when unpaged (every row)")
    offset: int
    total: int


# --- Deliveries ----------------------------------------------------------------------------


# What the document states for a CSV upload: a subset every match of which is accepted (given
# deal ids the account was issued): the header of COLUMNS and up to 5 rows.
_CSV_ROW = (
    r"20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]),[A-Za-z0-9-]{1,40},(desktop|mobile|tablet|ctv),"
    rf"(banner|video|native|ctv|audio),{PUBLIC_DOMAIN_PATTERN},"
    r"(US|GB|DE|FR|JP),[0-9]{1,6},[0-9]{1,6},[0-9]{1,6}(\.[0-9]{1,2})?"
)
DELIVERY_CSV_PATTERN = (
    r"^date,deal_id,device,format,domain,geo,impressions,clicks,spend\r?\n"
    rf"({_CSV_ROW}\r?\n){{0,4}}{_CSV_ROW}(\r?\n)?$"
)


# A row's counts and spend: a trillion is far past any real day of one deal, and keeps the sums
# of a million rows inside a 64-bit integer (an unbounded count overflowed the database: 500).
# Spend is stored in micros (10**18 at most a row), so reports sum its whole units and its
# micros apart (``repository.delivery_totals``): ten capped rows overflow a single SUM().
MAX_ROW_COUNT = 10**12


# The validation context of a row sent as JSON: its counts and spend are JSON numbers, as in the
# document's rows (seed 001's metrics are integers and numbers); a CSV cell is text, parsed.
JSON_ROW = {"json": True}


def _number(value: Any, info: ValidationInfo) -> Any:
    """A JSON ``true`` is no count: lax parsing stored it as 1 (a CSV cell is never a bool).
    Nor is a JSON string: lax parsing took ``"spend": "1"`` as $1."""
    if isinstance(value, bool):
        raise ValueError("Input should be a number, not a boolean")
    if isinstance(value, str) and info.context == JSON_ROW:
        raise ValueError("Input should be a number, not a string")
    return value


Amount = BeforeValidator(_number)


def _host_name(value: str) -> str:
    """A row's domain as stored: one spelling of each site ('Bücher.de.' and 'xn--bcher-kva.de'
    are one row of a report by domain), and never a URL or markup an export let through."""
    name = host_name(value)
    if name is None:
        raise ValueError(
            f"{quoted(value)} is not a host name (such as www.nytimes.com): "
            "not a URL, and no spaces or markup"
        )
    return name


# A site's host name, subdomains kept: stored lower case, in its IDNA ASCII form, without a
# root dot (core.urls.host_name); the document states what is refused.
DeliveryDomain = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        json_schema_extra={
            "pattern": r"^\s*[^\s/?#@:\\<>\[\]]+\s*$",
            **generate_within(pattern=rf"^{PUBLIC_DOMAIN_PATTERN}$"),
        },
    ),
    AfterValidator(_host_name),
]


class DeliveryRow(BaseModel):
    """One row of an SSP/DSP delivery export: JSON values (numbers as numbers: validate with
    ``context=JSON_ROW``) or CSV strings (parsed)."""

    model_config = ConfigDict(extra="forbid")

    date: ISODate
    deal_id: NonBlank = Field(max_length=200)
    device: Device
    format: Format
    domain: DeliveryDomain
    geo: CountryCode
    impressions: Annotated[int, Amount] = Field(ge=0, le=MAX_ROW_COUNT)
    # Not bounded by the row's impressions: an export attributes a click to the day it
    # happened, so a day's row may carry clicks on an earlier day's impressions.
    clicks: Annotated[int, Amount] = Field(ge=0, le=MAX_ROW_COUNT)
    spend: Annotated[float, Amount] = Field(ge=0, le=MAX_ROW_COUNT, allow_inf_nan=False)


# The longest batch id (its column's size), however it is given: body, query or CLI.
MAX_BATCH_ID = 100


class DeliveryUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_id: NonBlank | None = Field(
        default=None,
        max_length=MAX_BATCH_ID,
        description="Re-posting the same batch_id replaces it",
    )
    # Rows are parsed one by one (each bad row is named), so the field is typed loosely; the
    # document states each row's schema.
    rows: Annotated[
        list[dict[str, Any]],
        Field(min_length=1),
        WithJsonSchema({"type": "array", "minItems": 1, "items": DeliveryRow.model_json_schema()}),
    ]


class DeliveryReceipt(BaseModel):
    batch_id: str
    rows: int = Field(description="Rows stored for this batch")
    replaced_rows: int = Field(description="Rows of an earlier post of this batch, now replaced")
    impressions: int
    clicks: int
    spend: float


# --- Reports (seed 001) --------------------------------------------------------------------


# Each list names an item once, as an activation's do: a repeat would be echoed back in the
# report object. The 422 names the repeat (``core.lists``).
_DISTINCT = distinct()


class ReportFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    devices: Annotated[list[Device], _DISTINCT] | None = Field(
        default=None, min_length=1, json_schema_extra=UNIQUE_ITEMS
    )
    formats: Annotated[list[Format], _DISTINCT] | None = Field(
        default=None, min_length=1, json_schema_extra=UNIQUE_ITEMS
    )
    geo: Annotated[list[CountryCode], _DISTINCT] | None = Field(
        default=None, min_length=1, json_schema_extra=UNIQUE_ITEMS
    )


class ReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_date: ISODate = Field(description="First day of the report (inclusive)")
    end_date: ISODate = Field(
        description=(
            "Last day of the report (inclusive): not before start_date; the report covers "
            f"at most {MAX_REPORT_DAYS} days, start_date and end_date included"
        )
    )
    segment_ids: Annotated[list[StrictId], _DISTINCT] | None = Field(
        default=None, min_length=1, max_length=1000, json_schema_extra=UNIQUE_ITEMS
    )
    deal_ids: Annotated[list[NonBlank], _DISTINCT] | None = Field(
        default=None, min_length=1, max_length=1000, json_schema_extra=UNIQUE_ITEMS
    )
    filters: ReportFilters | None = None
    dimensions: Annotated[list[Dimension], _DISTINCT] | None = Field(
        default=None, json_schema_extra=UNIQUE_ITEMS
    )


class Summary(BaseModel):
    impressions: int
    clicks: int
    spend: float
    ctr: float
    ecpm: float


class ReportOut(BaseModel):
    """The report object of seed 001; ``pagination`` appears beside ``data`` once complete and
    ``error`` only when failed, as in the campaign reports."""

    id: int
    status: Literal["pending", "processing", "complete", "failed"]
    segment_ids: list[int] | None
    deal_ids: list[str] | None
    start_date: dt.date
    end_date: dt.date
    filters: dict[str, list[str]] | None
    dimensions: list[str] | None
    created_date: UTCSeconds
    processed_date: UTCSeconds | None
    summary: Summary | None
    data: list[dict[str, Any]] | None
    pagination: Annotated[ReportPagination | None, Field(exclude_if=absent)] = Field(
        default=None, description="Paging of ``data`` (once complete)"
    )
    error: FailureReason = Field(
        default=None, description="Why the report failed (only when failed)"
    )
