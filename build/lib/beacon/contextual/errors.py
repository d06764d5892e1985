"""Errors of the Understand API."""

from __future__ import annotations

from beacon.core.errors import ValidationFailed


class Unclassifiable(ValidationFailed):
    """A URL that could not be fetched or classified (timeout, SSRF refusal, not HTML, ...)."""

    def __init__(self, *, url: str, reason: str) -> None:
        super().__init__(f"Could not classify {url}: {reason}")
        self.url = url
        self.reason = reason
