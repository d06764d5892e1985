"""SMS through a Twilio-style Messages resource over HTTP (httpx).

``POST <base>/2010-04-01/Accounts/<sid>/Messages.json`` with form fields ``To``, ``From`` and
``Body``, HTTP Basic ``sid:token``; a 2xx answer carries the message ``sid``. 429 and 5xx are
transient; 401/403 mean the provider refuses the account and 404 that there is no such
Messages resource (a wrong base URL or account SID): unreachable for the whole run. Another
4xx refuses this message for good, and marks the number bounced only when its error code says
the number is the problem (an invalid From number or a message body refused are not).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import httpx

from beacon.messaging.providers import (
    Delivery,
    Handover,
    Outcome,
    OutgoingMessage,
    RateLimiter,
)

# Twilio's error codes that refuse the recipient's number itself: invalid 'To' number, not a
# valid phone number, the recipient replied STOP, not reachable by SMS, not a mobile number
NUMBER_REFUSED_CODES = frozenset({"21211", "21217", "21610", "21612", "21614"})


def _error_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_text(response: httpx.Response) -> str:
    body = _error_body(response)
    if body is None:
        return response.text[:200]
    if isinstance(body, dict):
        code, message = body.get("code"), body.get("message")
        return f"{code}: {message}" if code else str(message or body)[:200]
    return str(body)[:200]


def _refuses_number(response: httpx.Response) -> bool:
    body = _error_body(response)
    code = body.get("code") if isinstance(body, dict) else None
    return str(code) in NUMBER_REFUSED_CODES  # a number in Twilio's answers, a string in some


class SmsProvider:
    """Sends each message as one API request, ``concurrency`` at a time."""

    channel = "sms"
    recoverable = False

    def __init__(
        self,
        *,
        base_url: str,
        account_sid: str,
        auth_token: str,
        from_number: str,
        concurrency: int,
        timeout: float,
        limiter: RateLimiter,
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.from_number = from_number
        self.limiter = limiter
        self._gate = asyncio.Semaphore(concurrency)
        self._client = httpx.AsyncClient(
            auth=(account_sid, auth_token),
            timeout=timeout,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )

    async def send(
        self,
        messages: Sequence[OutgoingMessage],
        *,
        execution_id: uuid.UUID,
        handover: Handover | None = None,
    ) -> list[Delivery]:
        """One request per message, in parallel up to the concurrency."""
        return list(await asyncio.gather(*(self._send_one(m, handover) for m in messages)))

    async def confirmed(
        self, *, execution_id: uuid.UUID, recipient_ids: Sequence[int]
    ) -> dict[int, str] | None:
        """The Messages API offers no lookup by our reference."""
        return None

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def _send_one(self, message: OutgoingMessage, handover: Handover | None) -> Delivery:
        async with self._gate:
            await self.limiter.acquire()
            form = {"To": message.to, "From": self.from_number, "Body": message.body.decode()}
            if handover is not None:
                handover.started(message)  # the request may be received as soon as it starts
            answer = await self._post(form)
            if handover is not None:
                handover.finished(message, answer)
        return answer

    async def _post(self, form: dict[str, str]) -> Delivery:
        try:
            response = await self._client.post(self.url, data=form)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return Delivery(Outcome.UNREACHABLE, reason=f"cannot reach the SMS API: {exc!r}")
        except httpx.HTTPError as exc:
            # the request may have been received: its outcome is unknown
            return Delivery(Outcome.UNKNOWN, reason=f"SMS API request broke: {exc!r}")
        return self._classify(response)

    def _classify(self, response: httpx.Response) -> Delivery:
        status = response.status_code
        if 200 <= status < 300:
            try:
                sid = response.json().get("sid")
            except (ValueError, AttributeError):
                sid = None
            if not sid:
                return Delivery(Outcome.UNKNOWN, reason=f"HTTP {status} without a message sid")
            return Delivery.sent(str(sid))
        reason = f"HTTP {status} from the SMS API: {_error_text(response)}"
        if status == 429 or status >= 500:
            return Delivery(Outcome.TRANSIENT, reason=reason)
        if status in (401, 403, 404):
            return Delivery(Outcome.UNREACHABLE, reason=reason)
        return Delivery(Outcome.PERMANENT, reason=reason, bounce=_refuses_number(response))
