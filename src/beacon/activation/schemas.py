"""Wire format of inventory, segments and activations (seed 003); reports live in
``report_schemas``. Value lists (formats, devices, KPIs) are the seeds'."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, get_args

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

from beacon.contextual import taxonomy
from beacon.contextual.brand_safety import LEVELS, RiskLevel
from beacon.core import codes
from beacon.core.dsps import SUPPORTED_DSPS, is_supported_dsp, suggest_dsps
from beacon.core.errors import quoted
from beacon.core.ids import StrictId
from beacon.core.lists import UNIQUE_ITEMS, distinct
from beacon.core.openapi import generate_within
from beacon.core.text import NonBlank
from beacon.core.timefmt import ISODate, UTCSeconds
from beacon.core.urls import PUBLIC_DOMAIN_PATTERN, PUBLIC_URL_PATTERN

Format = Literal["banner", "video", "native", "ctv", "audio"]
Device = Literal["desktop", "mobile", "tablet", "ctv"]
KpiMetric = Literal["ctr", "conversion", "viewability", "vcr", "cpa", "roas"]
Sentiment = Literal["positive", "neutral", "negative"]

MAX_INVENTORY_URLS = 10_000
DEFAULT_PAGE, MAX_PAGE = 1000, 10_000
NAME_MAX = 200
DESCRIPTION_MAX = 2000


# ISO 4217 codes that are no money a budget is spent in: the test code, "no currency", the
# precious metals, units of account and bond-market units no one pays with, and the funds.
NOT_MONEY = frozenset(
    {"XTS", "XXX"}  # testing, no currency
    | {"XAU", "XAG", "XPT", "XPD"}  # gold, silver, platinum, palladium
    | {"XDR", "XBA", "XBB", "XBC", "XBD", "XSU", "XUA", "XAD"}  # units of account
    # ISO 4217's fund codes (its "Fund" list): indexed units of account (CLF, COU, MXV, UYI,
    # UYW, BOV), the WIR cooperative's clearing units (CHE, CHW) and the next-day settlement
    # dollar (USN). Prices are quoted and paid in the currency beside each (CLP, COP, MXN,
    # UYU, BOB, CHF, USD); a DSP takes no budget in them.
    | {"BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"}
)
CURRENCIES = sorted(c.alpha_3 for c in pycountry.currencies if c.alpha_3 not in NOT_MONEY)


def _currency(code: str) -> str:
    currency = pycountry.currencies.get(alpha_3=code) if len(code) == 3 else None
    if currency is None or not code.isupper():
        raise ValueError(f"{quoted(code)} is not an ISO 4217 currency code (e.g. 'USD')")
    if code in NOT_MONEY:
        raise ValueError(
            f"{quoted(code)} ({currency.name}) is an ISO 4217 code but not a currency a budget "
            "is spent in (e.g. 'USD')"
        )
    return code


# Integers beyond 2**53 are not exact as floats, and past 64 bits no JSON encoder here takes them.
_EXACT_INTEGERS = 2**53


def _compact(value: float) -> int | float:
    """50000.0 is written as 50000, as clients sent it (1e300 stays a float)."""
    return int(value) if value.is_integer() and abs(value) <= _EXACT_INTEGERS else value


# Every family's one rule (``core.codes``): any case ('gb' as Measure and Orchestrate take it),
# stored and returned in upper case.
CountryCode = Annotated[
    str,
    AfterValidator(codes.country_code),
    Field(
        description=codes.ANY_CASE_COUNTRY_DESCRIPTION,
        json_schema_extra=codes.any_case_country_code_schema(),
    ),
]
CurrencyCode = Annotated[
    str,
    AfterValidator(_currency),
    Field(json_schema_extra={"enum": CURRENCIES}),
]
# Strict: a JSON number, never a string or a boolean (``true`` is not a budget of 1).
Number = Annotated[float, Strict(), Field(allow_inf_nan=False), PlainSerializer(_compact)]


class Pagination(BaseModel):
    limit: int
    offset: int
    total: int


# --- Inventory -----------------------------------------------------------------------------


# A text upload: one such URL per line (a first line that is not a URL is read as a header).
URL_LINES_PATTERN = f"^{PUBLIC_URL_PATTERN}(\\r?\\n{PUBLIC_URL_PATTERN}){{0,9}}(\\r?\\n)?$"


class InventoryUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    urls: list[
        Annotated[str, Field(json_schema_extra=generate_within(pattern=f"^{PUBLIC_URL_PATTERN}$"))]
    ] = Field(min_length=1, max_length=MAX_INVENTORY_URLS, description="Page URLs (http/https)")


class InventoryAdded(BaseModel):
    received: int = Field(description="URLs in the request")
    added: int = Field(description="URLs new to the account's inventory")
    queued: int = Field(description="URLs newly queued for classification")


class InventoryItem(BaseModel):
    url: str
    domain: str
    source: Literal["upload", "pixel"]
    status: Literal["ok", "pending", "error"] = Field(description="Classification status")
    created_date: UTCSeconds
    reason: Annotated[str | None, Field(exclude_if=lambda value: value is None)] = Field(
        default=None,
        description="Why the page could not be classified, in words (only when status is error)",
    )


class InventoryPage(BaseModel):
    data: list[InventoryItem]
    pagination: Pagination


# --- Segments ------------------------------------------------------------------------------


def _iab_code(code: str) -> str:
    if code not in taxonomy.categories():
        raise ValueError(f"{quoted(code)} is not an IAB Content Taxonomy 1.0 code (e.g. 'IAB19')")
    return code


IabCode = Annotated[
    str,
    AfterValidator(_iab_code),
    Field(json_schema_extra={"enum": [*sorted(taxonomy.categories())]}),
]


# Each keyword, entity and domain list of a rule set: every build matches each term against
# every page. A term has the length of a name (NAME_MAX), a domain that of a domain name (253
# characters, RFC 1035); a 5,000-character keyword matched nothing yet was stored (a 201).
MAX_RULE_TERMS = 1_000
MAX_TERM_CHARS = NAME_MAX
MAX_DOMAIN_CHARS = 253
# (most terms, most characters a term) of each limited list. The segments service checks them
# (``segments.service.check_rule_limits``), not these models: the domain and length limits came
# after segments were stored, and an update keeps what its segment already holds, which only
# the service can compare. The models state them in the OpenAPI document.
RULE_LIST_LIMITS = {
    "keywords": (MAX_RULE_TERMS, MAX_TERM_CHARS),
    "entities": (MAX_RULE_TERMS, MAX_TERM_CHARS),
    "domains": (MAX_RULE_TERMS, MAX_DOMAIN_CHARS),
}
_AT_MOST_TERMS = Field(json_schema_extra={"maxItems": MAX_RULE_TERMS})
Terms = Annotated[
    list[Annotated[NonBlank, Field(json_schema_extra={"maxLength": MAX_TERM_CHARS})]],
    _AT_MOST_TERMS,
]
# The document states the bound; generators draw public host names, which the service's
# check (``segments.rules.domain_problem``) always accepts.
Domains = Annotated[
    list[
        Annotated[
            NonBlank,
            Field(
                json_schema_extra={
                    "maxLength": MAX_DOMAIN_CHARS,
                    **generate_within(pattern=f"^{PUBLIC_DOMAIN_PATTERN}$"),
                }
            ),
        ]
    ],
    _AT_MOST_TERMS,
]


class RuleSet(BaseModel):
    """Criteria over a URL's classification. Keys combine with AND, values within a key OR."""

    # min_confidence qualifies category matches: the document states it needs iab_categories
    model_config = ConfigDict(
        extra="forbid",
        # (as "iab_categories given, or no min_confidence": generators handle it)
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["iab_categories"],
                    "properties": {"iab_categories": {"type": "array"}},
                },
                {"properties": {"min_confidence": False}},
            ]
        },
    )

    # An empty list would match nothing (or exclude nothing): omit the key instead.
    iab_categories: list[IabCode] | None = Field(
        default=None,
        min_length=1,
        description="Any of these codes; a tier-1 code also matches its children",
    )
    keywords: Terms | None = Field(
        default=None,
        min_length=1,
        description=f"Any of these phrases (case-insensitive, whole words); "
        f"at most {MAX_RULE_TERMS}, each at most {MAX_TERM_CHARS} characters",
    )
    entities: Terms | None = Field(
        default=None,
        min_length=1,
        description=f"Any of these entity names (case-insensitive); at most {MAX_RULE_TERMS}, "
        f"each at most {MAX_TERM_CHARS} characters",
    )
    sentiment: list[Sentiment] | None = Field(
        default=None, min_length=1, description="Allowed labels"
    )
    domains: Domains | None = Field(
        default=None,
        min_length=1,
        description="Any of these publisher domains (registrable domain, e.g. 'bbc.co.uk'); "
        f"at most {MAX_RULE_TERMS}, each at most {MAX_DOMAIN_CHARS} characters",
    )
    min_confidence: Annotated[float, Strict()] | None = Field(
        default=None, ge=0, le=1, description="Lowest category confidence that counts"
    )

    @field_validator("min_confidence")
    @classmethod
    def _with_categories(cls, value: float | None, info: ValidationInfo) -> float | None:
        # It qualifies category matches only; alone it would be silently ignored.
        if value is not None and not info.data.get("iab_categories"):
            raise ValueError("applies to iab_categories: give iab_categories in the same rules")
        return value


class BrandSafetyRule(BaseModel):
    """A limit on the brand-safety risk of a segment's pages (docs/understand.md)."""

    model_config = ConfigDict(extra="forbid")

    max_risk: RiskLevel = Field(
        description=f"Highest overall brand-safety risk a page may have, one of "
        f"{', '.join(LEVELS)} (least to most severe); pages above it, and pages not yet "
        f"classified with brand safety, do not match"
    )


class SegmentRules(RuleSet):
    exclude: RuleSet | None = Field(
        default=None, description="A URL matching any of these keys is left out (brand safety)"
    )
    brand_safety: BrandSafetyRule | None = Field(
        default=None, description="Only pages whose overall brand-safety risk is at most max_risk"
    )


class SegmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: NonBlank = Field(max_length=NAME_MAX)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)
    rules: SegmentRules


class SegmentUpdate(BaseModel):
    """Partial update; a change of ``rules`` rebuilds the segment."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[NonBlank, Field(max_length=NAME_MAX)] | SkipJsonSchema[None] = None
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)
    rules: SegmentRules | SkipJsonSchema[None] = None

    @field_validator("name", "rules")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class TopDomain(BaseModel):
    domain: str
    url_count: int


def absent(value: object) -> bool:
    """Whether an optional field is left out of the wire form (``exclude_if``)."""
    return value is None


# Present only when set, so the seeds' shapes stay exact: ``error`` only on failed objects,
# ``pagination`` only beside a complete report's rows.
FailureReason = Annotated[str | None, Field(exclude_if=absent)]


class SegmentOut(BaseModel):
    id: int
    name: str
    description: str | None
    rules: dict[str, Any]
    status: Literal["pending", "processing", "complete", "failed"]
    url_count: int | None
    domain_count: int | None
    top_domains: list[TopDomain] | None
    created_date: UTCSeconds
    processed_date: UTCSeconds | None
    last_updated_date: UTCSeconds
    error: FailureReason = Field(
        default=None, description="Why the build failed (only when failed)"
    )


class MemberUrl(BaseModel):
    url: str
    domain: str


class MemberUrlPage(BaseModel):
    data: list[MemberUrl]
    pagination: Pagination


class MemberDomainPage(BaseModel):
    data: list[TopDomain]
    pagination: Pagination


# --- Activations (seed 003) ----------------------------------------------------------------


def _dsp(name: str) -> str:
    if not is_supported_dsp(name):
        close = suggest_dsps(name)
        hint = (
            f"Did you mean: {', '.join(close)}?"
            if close
            else "The name must match one of the supported DSPs exactly, e.g. 'The Trade Desk'."
        )
        raise ValueError(f"{quoted(name)} is not a supported DSP. {hint}")
    return name


# Rates are fractions in (0, 1]; the other metrics are amounts above 0.
RATE_METRICS = frozenset({"ctr", "conversion", "viewability", "vcr"})


# Each metric's range, as the document states it (checked by the activation service).
_KPI_RANGES: dict[str, Any] = {
    "anyOf": [
        {
            "properties": {
                "metric": {"enum": sorted(RATE_METRICS)},
                "target": {"exclusiveMinimum": 0, "maximum": 1},
            }
        },
        {
            "properties": {
                "metric": {"enum": sorted(set(get_args(KpiMetric)) - RATE_METRICS)},
                "target": {"exclusiveMinimum": 0},
            }
        },
    ]
}


class Kpi(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_KPI_RANGES)

    metric: KpiMetric
    target: Number


class Budget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Annotated[Number, Field(json_schema_extra={"exclusiveMinimum": 0})]
    currency: CurrencyCode

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value


# What a response says of a stored KPI or budget. Output models describe and never validate: a
# rule that came after an activation was made (a currency now refused, such as the fund code USN)
# must not make it unreadable, so none of the input models' validators is here.
StoredNumber = Annotated[float, PlainSerializer(_compact)]
# The input models forbid other fields, so none was ever stored.
_NO_MORE_FIELDS: dict[str, Any] = {"additionalProperties": False}


class KpiOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={**_KPI_RANGES, **_NO_MORE_FIELDS})

    # described as the metrics accepted today, read as any text: a metric dropped from the list
    # later must not make the activations (and the account's list) that name it unreadable
    metric: str = Field(json_schema_extra={"enum": list(get_args(KpiMetric))})
    target: StoredNumber


class BudgetOut(BaseModel):
    model_config = ConfigDict(json_schema_extra=_NO_MORE_FIELDS)

    amount: Annotated[StoredNumber, Field(json_schema_extra={"exclusiveMinimum": 0})]
    currency: str = Field(
        description="An ISO 4217 currency code, as accepted when the activation was made"
    )


# A list names each item once: a repeat would be echoed back and, for a KPI, leave two targets
# for one metric; the 422 names the repeat (``core.lists``).
_DISTINCT = distinct()


class ActivationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segment_ids: Annotated[list[StrictId], _DISTINCT] = Field(
        min_length=1, max_length=100, json_schema_extra=UNIQUE_ITEMS
    )
    dsp: Annotated[str, AfterValidator(_dsp)] = Field(
        description="A supported DSP, exactly", json_schema_extra={"enum": [*SUPPORTED_DSPS]}
    )
    buyer_seat: NonBlank = Field(max_length=200)
    start_date: ISODate | None = None
    end_date: ISODate | None = None
    geo: Annotated[list[CountryCode], _DISTINCT] | None = Field(
        default=None, min_length=1, json_schema_extra=UNIQUE_ITEMS
    )
    formats: Annotated[list[Format], _DISTINCT] | None = Field(
        default=None, min_length=1, json_schema_extra=UNIQUE_ITEMS
    )
    devices: Annotated[list[Device], _DISTINCT] | None = Field(
        default=None, min_length=1, json_schema_extra=UNIQUE_ITEMS
    )
    # JSON Schema has no "unique by metric": the document states it in words and as at most one
    # item per metric; generators draw one KPI, which is always distinct.
    kpis: (
        Annotated[
            list[Kpi],
            distinct(key="metric"),
            Field(
                json_schema_extra={
                    "maxItems": len(get_args(KpiMetric)),
                    **generate_within(maxItems=1),
                }
            ),
        ]
        | None
    ) = Field(default=None, min_length=1, description="Performance targets, each metric once")
    budget: Budget | None = None


class ActivationOut(BaseModel):
    id: int
    segment_ids: list[int]
    dsp: str
    buyer_seat: str
    status: Literal["pending", "processing", "complete", "failed"]
    deal_id: str | None
    ttl_hours: int | None
    start_date: dt.date | None
    end_date: dt.date | None
    geo: list[str] | None
    formats: list[str] | None
    devices: list[str] | None
    kpis: list[KpiOut] | None
    budget: BudgetOut | None
    created_date: UTCSeconds
    processed_date: UTCSeconds | None
    expires_date: UTCSeconds | None = Field(
        default=None, description="processed_date + ttl_hours; null until complete"
    )
    expired: bool = Field(
        default=False, description="Whether the deal is past expires_date (status stays complete)"
    )
    error: FailureReason = Field(default=None, description="Why issuing failed (only when failed)")
