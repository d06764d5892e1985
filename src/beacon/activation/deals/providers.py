"""Deal issuing behind one interface.

The built-in provider mints deal ids (``classify-ttd-61-a8f3c``: prefix, DSP code, segment
ids, 5 random hex characters). The webhook provider mints the same way and, before the deal
counts as issued, POSTs its definition to ``BEACON_ACTIVATION_WEBHOOK_URL`` signed with
HMAC-SHA256 over ``"<timestamp>." + body``; only a 2xx completes it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import httpx
import orjson

from beacon.core.config import Settings
from beacon.core.dsps import dsp_code

log = logging.getLogger("beacon.activation.deals")

SIGNATURE_HEADER = "X-Beacon-Signature"
TIMESTAMP_HEADER = "X-Beacon-Timestamp"
EVENT = "deal.issue"
# The longest deal id: what the activation's column stores and a delivery row may name.
MAX_DEAL_ID_CHARS = 200


class DealIssueFailed(Exception):
    """The deal could not be pushed; the message is the reason the activation shows."""


@dataclass(frozen=True)
class DealSegment:
    id: int
    name: str
    domains: list[str]
    urls: list[str]


@dataclass(frozen=True)
class DealDefinition:
    """Everything a DSP-side integration needs to set the deal up."""

    deal_id: str
    activation_id: int
    dsp: str
    buyer_seat: str
    start_date: dt.date | None
    end_date: dt.date | None
    ttl_hours: int
    geo: list[str] | None
    formats: list[str] | None
    devices: list[str] | None
    kpis: list[dict[str, Any]] | None
    budget: dict[str, Any] | None
    segments: list[DealSegment]

    def payload(self) -> dict[str, Any]:
        """The webhook body."""
        data = asdict(self)
        return {
            "event": EVENT,
            "deal_id": self.deal_id,
            "activation_id": self.activation_id,
            "dsp": self.dsp,
            "dsp_code": dsp_code(self.dsp),
            "buyer_seat": self.buyer_seat,
            "start_date": self.start_date.isoformat() if self.start_date else None,
            "end_date": self.end_date.isoformat() if self.end_date else None,
            "ttl_hours": self.ttl_hours,
            "targeting": {"geo": self.geo, "formats": self.formats, "devices": self.devices},
            "kpis": self.kpis,
            "budget": self.budget,
            "segments": data["segments"],
        }


class DealProvider(Protocol):
    def new_deal_id(self, *, dsp: str, segment_ids: Sequence[int]) -> str:
        """A fresh candidate deal id (the caller makes sure it is unique)."""
        ...

    def push(self, deal: DealDefinition) -> None:
        """Make the deal live on the DSP side; raise DealIssueFailed with the reason."""
        ...


class BuiltInProvider:
    """Beacon's own deal ids; nothing to push."""

    def __init__(self, *, prefix: str) -> None:
        self.prefix = prefix

    def new_deal_id(self, *, dsp: str, segment_ids: Sequence[int]) -> str:
        """``<prefix>-<dsp code>-<segment ids joined by '-'>-<5 hex>``; when every id would
        make it longer than ``MAX_DEAL_ID_CHARS``, the first ids that fit and ``plus<N>`` for
        the N others (``classify-dv360-1-2-plus98-8be6a``)."""
        head, tail = f"{self.prefix}-{dsp_code(dsp)}-", f"-{secrets.token_hex(3)[:5]}"
        return head + _segment_part(segment_ids, MAX_DEAL_ID_CHARS - len(head) - len(tail)) + tail

    def push(self, deal: DealDefinition) -> None:
        """The built-in provider's deal is live as soon as its id exists."""


def _segment_part(segment_ids: Sequence[int], room: int) -> str:
    """The segment ids joined by '-', or as many as fit in ``room`` with ``plus<N>``."""
    ids = [str(s) for s in segment_ids]
    if len("-".join(ids)) <= room:
        return "-".join(ids)
    listed = 0
    while len("-".join([*ids[: listed + 1], f"plus{len(ids) - listed - 1}"])) <= room:
        listed += 1
    return "-".join([*ids[:listed], f"plus{len(ids) - listed}"])


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>." + body`` (the value after ``sha256=``)."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookProvider(BuiltInProvider):
    """Built-in deal ids, confirmed by a signed POST to an operator's endpoint."""

    def __init__(
        self,
        *,
        prefix: str,
        url: str,
        secret: str | None,
        attempts: int,
        backoff_seconds: float,
        timeout_seconds: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(prefix=prefix)
        self.url, self.secret = url, secret
        self.attempts = max(1, attempts)
        self.backoff_seconds, self.timeout_seconds = backoff_seconds, timeout_seconds
        self.sleep = sleep

    def push(self, deal: DealDefinition) -> None:
        """POST the definition, retrying with doubling back-off; only a 2xx succeeds."""
        if not self.secret:
            raise DealIssueFailed(
                "BEACON_ACTIVATION_WEBHOOK_SECRET must be set to sign activation webhooks"
            )
        body = orjson.dumps(deal.payload())
        reason = ""
        for attempt in range(1, self.attempts + 1):
            reason = self._attempt(deal, body, attempt)
            if not reason:
                return
            log.warning(
                "activation webhook attempt failed",
                extra={"deal_id": deal.deal_id, "attempt": attempt, "reason": reason},
            )
            if attempt < self.attempts:
                self.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        raise DealIssueFailed(f"webhook failed after {self.attempts} attempts: {reason}")

    def _attempt(self, deal: DealDefinition, body: bytes, attempt: int) -> str:
        assert self.secret is not None
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: f"sha256={sign(self.secret, timestamp, body)}",
            "X-Beacon-Event": EVENT,
            "X-Beacon-Attempt": str(attempt),
            "Idempotency-Key": deal.deal_id,
        }
        try:
            response = httpx.post(
                self.url, content=body, headers=headers, timeout=self.timeout_seconds
            )
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if 200 <= response.status_code < 300:
            return ""
        return f"HTTP {response.status_code} {response.reason_phrase}".strip()


def provider_for(settings: Settings) -> DealProvider:
    """The webhook provider when a webhook URL is configured, else the built-in one."""
    if settings.activation_webhook_url:
        return WebhookProvider(
            prefix=settings.deal_id_prefix,
            url=settings.activation_webhook_url,
            secret=(
                settings.activation_webhook_secret.get_secret_value()
                if settings.activation_webhook_secret
                else None
            ),
            attempts=settings.activation_webhook_attempts,
            backoff_seconds=settings.activation_webhook_backoff_seconds,
            timeout_seconds=settings.activation_webhook_timeout_seconds,
        )
    return BuiltInProvider(prefix=settings.deal_id_prefix)
