"""Delivery providers: the interface every channel implements, the retry loop around it and a
per-process rate limiter.

A provider takes a chunk of rendered messages and answers one ``Delivery`` per message. The
retry rules live here, once for every channel: transient refusals (SMTP 4xx, HTTP 429/5xx) and
an unreachable provider are retried with exponential back-off; permanent refusals are final.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    """What a provider said about one message."""

    SENT = "sent"  # accepted: the only outcome that makes a recipient ``sent``
    TRANSIENT = "transient"  # refused for now (SMTP 4xx, HTTP 429/5xx): retry later
    PERMANENT = "permanent"  # refused for good (SMTP 5xx, HTTP 4xx): the recipient fails
    UNKNOWN = "unknown"  # the hand-off broke after the message left: maybe delivered
    UNREACHABLE = "unreachable"  # the provider could not be reached at all


@dataclass(frozen=True, slots=True)
class Delivery:
    """The provider's answer for one message."""

    outcome: Outcome
    provider_message_id: str | None = None
    reason: str | None = None
    bounce: bool = False  # the address itself was refused: mark the contact bounced

    @classmethod
    def sent(cls, provider_message_id: str) -> Delivery:
        """An accepted message."""
        return cls(Outcome.SENT, provider_message_id=provider_message_id)


@dataclass(slots=True)
class OutgoingMessage:
    """One rendered message, ready for its channel's provider."""

    recipient_id: int
    contact_id: uuid.UUID
    to: str  # email address, E.164 number, or the one-line postal address
    body: bytes  # MIME message, SMS text (UTF-8) or print document
    sender: str = ""  # envelope sender (email)
    message_id: str = ""  # our Message-ID (email)
    manifest: dict[str, str] = field(default_factory=dict)  # print-file manifest columns


class Handover(Protocol):
    """Told of each hand-over of a provider that is not ``recoverable`` as it happens, so
    that a crash leaves an unknown outcome for at most one message per connection
    (``handover_journal``). Both calls are cheap and synchronous (one ``write()``)."""

    def started(self, message: OutgoingMessage) -> None:
        """Called just before the first byte of ``message`` goes to the provider."""
        ...

    def finished(self, message: OutgoingMessage, delivery: Delivery) -> None:
        """The provider's answer to a started hand-over."""
        ...


class Provider(Protocol):
    """A channel's delivery provider. Instances live for one batch (one event loop)."""

    channel: str
    # True when ``confirmed`` can always tell what was handed over: a crash then leaves no
    # unknown outcome, so the pipeline may hand over a whole batch at once
    recoverable: bool

    async def send(
        self,
        messages: Sequence[OutgoingMessage],
        *,
        execution_id: uuid.UUID,
        handover: Handover | None = None,
    ) -> list[Delivery]:
        """Hand every message over; one Delivery per message, in order. A provider that is
        not ``recoverable`` reports each hand-over to ``handover``."""
        ...

    async def confirmed(
        self, *, execution_id: uuid.UUID, recipient_ids: Sequence[int]
    ) -> dict[int, str] | None:
        """After a crash: which of these hand-offs completed (id -> provider message id), or
        None when the provider cannot tell."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class RateLimiter:
    """Spaces sends ``1/rate`` seconds apart across every batch of this process."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    async def acquire(self) -> None:
        """Wait for the next free slot."""
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


_LIMITERS: dict[tuple[str, float], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def rate_limiter(channel: str, rate: float) -> RateLimiter:
    """The process-wide limiter of a channel (one per configured rate)."""
    with _LIMITERS_LOCK:
        return _LIMITERS.setdefault((channel, rate), RateLimiter(rate))


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a chunk is retried."""

    attempts: int
    backoff_seconds: float
    resend_unknown: bool = False


def _retryable(delivery: Delivery, policy: RetryPolicy) -> bool:
    if delivery.outcome in (Outcome.TRANSIENT, Outcome.UNREACHABLE):
        return True
    return delivery.outcome is Outcome.UNKNOWN and policy.resend_unknown


async def deliver(
    provider: Provider,
    messages: Sequence[OutgoingMessage],
    *,
    execution_id: uuid.UUID,
    policy: RetryPolicy,
    handover: Handover | None = None,
) -> list[Delivery]:
    """Send a chunk, retrying what may succeed later; one final Delivery per message.

    A message still transient after the last attempt ends PERMANENT (not bounced); one still
    UNREACHABLE stays so, and the caller fails the execution.
    """
    final: dict[int, Delivery] = {}
    pending = list(messages)
    for attempt in range(policy.attempts):
        if attempt:
            await asyncio.sleep(policy.backoff_seconds * 2 ** (attempt - 1))
        answers = await provider.send(pending, execution_id=execution_id, handover=handover)
        retry: list[OutgoingMessage] = []
        for message, delivery in zip(pending, answers, strict=True):
            final[message.recipient_id] = delivery
            if _retryable(delivery, policy):
                retry.append(message)
        if not retry:
            break
        pending = retry
    result: list[Delivery] = []
    for message in messages:
        delivery = final[message.recipient_id]
        if delivery.outcome in (Outcome.TRANSIENT, Outcome.UNKNOWN) and _retryable(
            delivery, policy
        ):
            delivery = Delivery(
                Outcome.PERMANENT,
                reason=f"gave up after {policy.attempts} attempts: {delivery.reason}",
            )
        result.append(delivery)
    return result
