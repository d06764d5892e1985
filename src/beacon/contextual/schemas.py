"""Wire format of the Understand API (`/v1/clsfy/classify`)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from beacon.contextual.batches import MAX_BATCH_URLS, BatchView
from beacon.contextual.models import ClassificationBatchItem
from beacon.contextual.service import UrlOutcome
from beacon.core.openapi import generate_within
from beacon.core.text import NON_BLANK_PATTERN, is_blank
from beacon.core.timefmt import UTCSeconds
from beacon.core.urls import MAX_URL_LENGTH, PUBLIC_URL_PATTERN, web_url_problem

CLASSIFICATION_EXAMPLE: dict[str, Any] = {
    "iab_categories": [{"id": "IAB19-6", "name": "Technology & Computing", "confidence": 0.93}],
    "keywords": ["AI chips", "semiconductor", "GPU"],
    "entities": [{"name": "NVIDIA", "type": "brand", "confidence": 0.91}],
    "sentiment": {"label": "positive", "score": 0.72},
    "language": "en",
    "notes": [],
}


def _web_url(value: str) -> str:
    problem = web_url_problem(value)  # the fetcher's own rule
    if problem is not None:
        raise ValueError(problem)
    return value.strip()


def _shows_something(value: str) -> str:
    # kept as sent (its whitespace is the page's), but only whitespace is an empty text
    if is_blank(value):
        raise ValueError("must not be empty")
    return value


def _absent_as_empty(value: object) -> object:
    return "" if value is None else value


# what _web_url accepts, for the document: an http(s) scheme and a host
WEB_URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@:\[\]\s\\]+([/?#][^\s]*)?$"
WebUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        json_schema_extra={
            "pattern": WEB_URL_PATTERN,
            **generate_within(pattern=f"^{PUBLIC_URL_PATTERN}$"),
        },
    ),
    AfterValidator(_web_url),
]


class ClassifyRequest(BaseModel):
    """Exactly one of `url` (fetched and classified) or `text` (classified as given)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"url": "https://www.bbc.com/sport/football"}],
            # the rule of _exactly_one, stated: a URL (no text, no title) or a text
            "oneOf": [
                {
                    "required": ["url"],
                    "properties": {
                        "url": {"type": "string"},
                        "text": {"type": "null"},
                        "title": {"maxLength": 0},
                    },
                },
                {
                    "required": ["text"],
                    "properties": {"text": {"type": "string"}, "url": {"type": "null"}},
                },
            ],
        },
    )

    url: WebUrl | None = Field(default=None, description="Page to fetch and classify.")
    text: Annotated[str, AfterValidator(_shows_something)] | None = Field(
        default=None,
        min_length=1,
        max_length=500_000,
        description="Content to classify (not blank: whitespace alone is empty).",
        json_schema_extra={"pattern": NON_BLANK_PATTERN},
    )
    # null is absent, as for `url` and `text` (the seeds' optional fields are "string | null")
    title: Annotated[str, BeforeValidator(_absent_as_empty)] = Field(
        default="",
        max_length=1000,
        description="Title of `text` (optional; null is the same as leaving it out).",
        json_schema_extra={"type": ["string", "null"]},
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ClassifyRequest:
        if (self.url is None) == (self.text is None):
            raise ValueError("send exactly one of 'url' or 'text'")
        if self.url is not None and self.title:
            raise ValueError("'title' goes with 'text'; a URL's title is read from the page")
        return self


class ClassifyResponse(BaseModel):
    """A classification; `cached` says whether it came from the store without a fetch."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://www.nytimes.com/2026/01/15/technology/ai-chips.html",
                    "classification": CLASSIFICATION_EXAMPLE,
                    "classified_date": "2026-01-15T10:00:00Z",
                    "engine_version": "lexicon-1.1.0",
                    "cached": False,
                }
            ]
        }
    )

    url: str | None = Field(description="The normalised URL; null for text classification.")
    classification: dict[str, Any]
    classified_date: UTCSeconds
    engine_version: str
    cached: bool
    refresh_error: str | None = Field(
        default=None,
        description="Present only when the page could not be fetched again and this is its "
        "older stored result (stale, or of an older engine version): why the refresh failed. "
        "Absent otherwise.",
        # An addition only a stale answer carries: other answers keep their documented fields.
        exclude_if=lambda value: value is None,
    )

    @classmethod
    def from_outcome(cls, outcome: UrlOutcome) -> ClassifyResponse:
        """Shape a successful ``classify_url`` outcome."""
        assert outcome.classification is not None and outcome.classified_at is not None
        return cls(
            url=outcome.url,
            classification=outcome.classification,
            classified_date=outcome.classified_at,
            engine_version=outcome.engine_version or "",
            cached=outcome.cached,
            refresh_error=outcome.refresh_error,
        )


class BatchCreate(BaseModel):
    """Up to 1,000 URLs to classify asynchronously."""

    model_config = ConfigDict(extra="forbid")

    urls: list[WebUrl] = Field(min_length=1, max_length=MAX_BATCH_URLS)


class BatchSummary(BaseModel):
    classified: int
    failed: int


def _absent(value: object) -> bool:
    return value is None


class BatchResult(BaseModel):
    """One URL's outcome: `classification` when classified, `error` when failed."""

    # Absent fields are left out by exclude_if, not by a model serializer: a serializer's
    # dict return type made the document show a result as a plain object, without its fields.
    url: str = Field(description="The URL as submitted.")
    status: str = Field(examples=["classified"], description="classified or failed")
    classification: dict[str, Any] | None = Field(
        default=None,
        description="Present only when `status` is classified: as `classification` of "
        "POST /v1/clsfy/classify.",
        exclude_if=_absent,
    )
    error: str | None = Field(
        default=None,
        description="Present only when `status` is failed: why the URL was not classified.",
        exclude_if=_absent,
    )

    @classmethod
    def from_item(cls, item: ClassificationBatchItem) -> BatchResult:
        """Shape one batch item."""
        classification = orjson.loads(item.classification) if item.classification else None
        return cls(
            url=item.url, status=item.status, classification=classification, error=item.error
        )


class Pagination(BaseModel):
    limit: int
    offset: int
    total: int


class Batch(BaseModel):
    """A batch job in the style of the seed reports: results once `status` is complete."""

    id: int
    status: str = Field(description="pending → processing → complete or failed")
    created_date: UTCSeconds
    processed_date: UTCSeconds | None
    url_count: int
    summary: BatchSummary | None
    results: list[BatchResult] | None
    pagination: Pagination | None

    @classmethod
    def from_view(cls, view: BatchView) -> Batch:
        """Shape a batch and (when complete) one page of its results."""
        batch = view.batch
        complete = view.items is not None
        return cls(
            id=batch.id,
            status=batch.status,
            created_date=batch.created_date,
            processed_date=batch.processed_date,
            url_count=batch.url_count,
            summary=BatchSummary(**view.summary) if view.summary is not None else None,
            results=[BatchResult.from_item(i) for i in view.items or []] if complete else None,
            pagination=Pagination(limit=view.limit, offset=view.offset, total=batch.url_count)
            if complete
            else None,
        )
