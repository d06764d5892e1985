"""Which provider delivers a channel, as the settings configure it."""

from __future__ import annotations

from urllib.parse import urlsplit

from beacon.core.config import Settings
from beacon.core.smtp import SmtpConfig
from beacon.messaging.providers import Provider, RetryPolicy, rate_limiter
from beacon.messaging.providers.direct_mail import PrintFileProvider
from beacon.messaging.providers.email import SmtpProvider
from beacon.messaging.providers.sms import SmsProvider


def sms_configured(settings: Settings) -> bool:
    """Whether an SMS account is configured (otherwise SMS go to the outbox)."""
    return bool(settings.sms_account_sid and settings.sms_auth_token and settings.sms_from_number)


def describe(channel: str, settings: Settings) -> tuple[bool, str]:
    """Whether the channel has a real provider, and where its messages go."""
    outbox = settings.effective_outbox_dir / channel
    if channel == "email" and settings.smtp_url:
        config = SmtpConfig.from_url(settings.smtp_url.get_secret_value())
        return True, f"SMTP server {config.hostname}:{config.port}"
    if channel == "sms" and sms_configured(settings):
        return True, f"SMS API {_host_only(settings.sms_api_base_url)}"
    if channel == "direct_mail":
        return True, f"print files in {outbox}"
    return False, f"messages are written to {outbox}"


def _host_only(url: str) -> str:
    """``host[:port]`` of ``url``: tenants see where messages go, never the operator's
    credentials, path or query (as for SMTP)."""
    parts = urlsplit(url)
    host = parts.hostname or "(no host)"
    return f"{host}:{parts.port}" if parts.port else host


def _rate(channel: str, settings: Settings) -> float:
    return {
        "email": settings.messaging_email_rate_limit,
        "sms": settings.messaging_sms_rate_limit,
        "direct_mail": settings.messaging_direct_mail_rate_limit,
    }[channel]


def open_provider(channel: str, settings: Settings) -> Provider:
    """A provider for one batch; call inside the event loop that will use it.

    Raises ValueError when the configuration is invalid (for example a malformed SMTP URL).
    """
    limiter = rate_limiter(channel, _rate(channel, settings))
    concurrency = settings.messaging_provider_concurrency
    timeout = settings.messaging_send_timeout_seconds
    if channel == "email" and settings.smtp_url:
        return SmtpProvider(
            SmtpConfig.from_url(settings.smtp_url.get_secret_value()),
            concurrency=concurrency,
            timeout=timeout,
            limiter=limiter,
        )
    if channel == "sms" and sms_configured(settings):
        assert settings.sms_account_sid and settings.sms_auth_token and settings.sms_from_number
        return SmsProvider(
            base_url=settings.sms_api_base_url,
            account_sid=settings.sms_account_sid,
            auth_token=settings.sms_auth_token.get_secret_value(),
            from_number=settings.sms_from_number,
            concurrency=concurrency,
            timeout=timeout,
            limiter=limiter,
        )
    return PrintFileProvider(
        channel=channel,
        root=settings.effective_outbox_dir,
        fsync=settings.messaging_outbox_fsync,
        limiter=limiter,
    )


def retry_policy(settings: Settings) -> RetryPolicy:
    """The retry rules the settings describe."""
    return RetryPolicy(
        attempts=settings.messaging_send_attempts,
        backoff_seconds=settings.messaging_retry_backoff_seconds,
        resend_unknown=settings.messaging_unknown_outcome_policy == "resend",
    )
