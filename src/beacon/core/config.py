"""Settings, read from ``BEACON_*`` environment variables (see the README's table)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every ``BEACON_*`` setting. The README's configuration table mirrors this class."""

    model_config = SettingsConfigDict(env_prefix="BEACON_", extra="ignore")

    data_dir: Path = Field(
        default=Path("./var"), description="Where the SQLite file, spool and outbox live."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///<data_dir>/beacon.db. "
        "Use postgresql+psycopg://user@host/db in production.",
    )
    redis_url: str | None = Field(
        default=None, description="When set, rate-limit counters are shared through Redis."
    )
    rate_limit: str = Field(
        default="600/minute", description="Per-API-key request quota (limits syntax)."
    )
    anonymous_rate_limit: str = Field(
        default="120/minute", description="Quota per client IP for requests without a valid key."
    )
    max_body_bytes: int = Field(
        default=10_000_000, description="Largest accepted request body, in bytes."
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL clients, pixels and links in messages use to reach this server "
        "(default: the http://host:port `beacon serve` listens on; a separate `beacon worker` "
        "needs it to send email).",
    )
    log_level: str = Field(default="INFO", description="Logging level.")
    worker_in_process: bool = Field(
        default=True, description="`beacon serve` also runs a background worker in-process."
    )
    worker_poll_interval: float = Field(
        default=0.5, description="Seconds an idle worker waits between polls."
    )
    worker_concurrency: int = Field(
        default=2,
        ge=1,
        le=32,
        description="Handler threads per worker process (jobs and periodic ticks run on them; "
        "2 keeps a slow classifier tick from holding up jobs).",
    )
    job_lease_seconds: float = Field(
        default=30.0, description="Lease a worker holds on a claimed job."
    )
    job_max_attempts: int = Field(default=3, description="Attempts before a job is marked failed.")
    report_max_rows: int = Field(
        default=2_000_000,
        description="Rows a pixel report may have; a larger one fails, asking to narrow it.",
    )
    messaging_token_ttl_seconds: int = Field(
        default=3600, description="Lifetime of /public/v1 OAuth access tokens, in seconds."
    )
    messaging_read_rate_limit: str = Field(
        default="600/minute", description="/public/v1 quota per client for read scopes."
    )
    messaging_analytics_rate_limit: str = Field(
        default="120/minute", description="/public/v1 quota per client for analytics:read."
    )
    messaging_write_rate_limit: str = Field(
        default="120/minute", description="/public/v1 quota per client for write scopes."
    )
    messaging_reach_max_age_seconds: int = Field(
        default=86400, description="Age after which a reach evaluation is reported stale."
    )
    smtp_url: str | None = Field(
        default=None,
        description="SMTP server for email sends: smtp://user:pass@host:587?starttls=true "
        "(smtps:// for implicit TLS); unset: emails are written to the outbox directory.",
    )
    sms_api_base_url: str = Field(
        default="https://api.twilio.com",
        description="Base URL of the Twilio-style SMS API "
        "(POST <base>/2010-04-01/Accounts/<sid>/Messages.json).",
    )
    sms_account_sid: str | None = Field(
        default=None,
        description="SMS provider account id; unset: SMS are written to the outbox directory.",
    )
    sms_auth_token: str | None = Field(
        default=None, description="SMS provider auth token (HTTP Basic password)."
    )
    sms_from_number: str | None = Field(
        default=None, description="E.164 number (or sender id) SMS are sent from."
    )
    messaging_outbox_dir: Path | None = Field(
        default=None,
        description="Where direct mail print files (and unconfigured email/SMS) are written; "
        "default <data_dir>/outbox.",
    )
    messaging_outbox_fsync: bool = Field(
        default=True,
        description="Make every outbox document and manifest durable before the batch is "
        "renamed into place (one syncfs of the filesystem on Linux, else an fsync per file).",
    )
    messaging_email_rate_limit: float = Field(
        default=0.0, description="Emails per second per worker process; 0: unlimited."
    )
    messaging_sms_rate_limit: float = Field(
        default=0.0, description="SMS per second per worker process; 0: unlimited."
    )
    messaging_direct_mail_rate_limit: float = Field(
        default=0.0, description="Direct mail pieces per second per worker process; 0: unlimited."
    )
    messaging_provider_concurrency: int = Field(
        default=4,
        ge=1,
        description="Parallel SMTP connections / SMS requests per worker process.",
    )
    messaging_send_attempts: int = Field(
        default=5,
        ge=1,
        description="Attempts per message on a transient failure (SMTP 4xx, HTTP 429/5xx), "
        "and per chunk when the provider is unreachable, before giving up.",
    )
    messaging_retry_backoff_seconds: float = Field(
        default=1.0, description="First wait between delivery attempts; doubles after each."
    )
    messaging_send_timeout_seconds: float = Field(
        default=30.0, description="Timeout of one SMTP command or SMS API request, in seconds."
    )
    messaging_unknown_outcome_policy: Literal["fail", "resend"] = Field(
        default="fail",
        description="Recipients handed to a provider when a worker died (outcome unknown): "
        "'fail' (reason unknown_outcome_after_crash, never a duplicate) or 'resend'.",
    )
    messaging_batch_size: int = Field(
        default=500, ge=1, description="Recipients per batch a worker claims with a lease."
    )
    messaging_inject_chunk_size: int = Field(
        default=100,
        ge=1,
        description="Recipients marked injected and handed to the provider after one commit; "
        "up to CHUNKS_IN_FLIGHT (3) chunks are handed over at once, so a crash leaves at most "
        "3 x chunk size rows with an unknown outcome.",
    )
    messaging_render_processes: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Template render processes per server or worker process (each limited to "
        "2 s of CPU and 128 MiB per render); when all stay busy for 1 s a preview answers 503.",
    )
    messaging_scheduler_interval_seconds: float = Field(
        default=1.0, description="Seconds between ticks of the campaign scheduler."
    )

    trusted_proxies: str = Field(
        default="",
        description="Comma-separated CIDRs of proxies/CDNs whose X-Forwarded-For and country "
        "headers (CF-IPCountry, ...) are believed; empty: none.",
    )
    geoip_mmdb_path: str | None = Field(
        default=None,
        description="Optional MaxMind-format .mmdb country database; unset: the bundled "
        "offline IP-to-country data.",
    )
    extra_bot_patterns: Path | None = Field(
        default=None,
        description="File of the operator's own bot patterns (one regular expression per "
        "line, # comments), counted as known_crawler after the AI-agent lists.",
    )
    ivt_activity_max_per_minute: int = Field(
        default=30,
        ge=1,
        description="Impressions of one campaign one client (IP and User-Agent) may load in a "
        "UTC minute; the loads past it are invalid traffic (reason activity).",
    )
    pixel_spool_dir: Path | None = Field(
        default=None,
        description="Directory of the pixel hit spool (default <data_dir>/spool/pixel); "
        "several processes may share it.",
    )
    pixel_flush_interval: float = Field(
        default=1.0, description="Seconds between pixel spool flushes into the rollups."
    )
    pixel_segment_max_bytes: int = Field(
        default=16 * 1024 * 1024, description="Size at which a pixel spool segment is sealed."
    )
    pixel_spool_fsync: bool = Field(
        default=True, description="fsync each sealed pixel spool segment (off the hot path)."
    )
    pixel_spool_max_backlog_bytes: int = Field(
        default=2 * 1024**3,
        description="Unflushed spool bytes above which the collector answers 503 instead of "
        "accepting hits (back-pressure).",
    )
    pixel_max_url_bytes: int = Field(
        default=8192,
        description="Longest pixel request target or Referer; longer hits get the GIF but "
        "are not counted.",
    )
    pixel_max_beacon_bytes: int = Field(
        default=16384, description="Largest script-tag beacon body (POST /px/{id})."
    )
    pixel_flusher: Literal["process", "thread", "off"] = Field(
        default="process",
        description="Where `beacon serve` flushes its pixel spool into the rollups: a child "
        "process at lower CPU priority (`process`: enrichment never stalls the hot path), a "
        "thread of the server (`thread`), or another process sharing the spool (`off`).",
    )
    pixel_flushers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Flusher child processes per `beacon serve` (with `BEACON_PIXEL_FLUSHER="
        "process`): each spool segment is claimed by one of them, so a backlog is flushed on "
        "that many cores at once (give it the cores the server does not need).",
    )
    pixel_flusher_profile_dir: Path | None = Field(
        default=None,
        description="Benchmarks only: each pixel flush loop profiles itself (cProfile, which "
        "slows it down) and writes flusher-<pid>.prof here when it stops; unset: off.",
    )

    fetch_allow_private_networks: bool = Field(
        default=False,
        description="Let the classifier fetch loopback/private/link-local addresses "
        "(tests, trusted intranets). Off: such URLs are refused (SSRF guard).",
    )
    fetch_connect_timeout: float = Field(
        default=5.0, description="Seconds to connect when fetching a page to classify."
    )
    fetch_read_timeout: float = Field(
        default=10.0, description="Seconds to wait for response bytes when fetching a page."
    )
    fetch_total_timeout: float = Field(
        default=30.0, description="Upper bound in seconds on one page fetch, redirects included."
    )
    fetch_respect_robots: bool = Field(
        default=True, description="Honour robots.txt when fetching pages to classify."
    )
    classification_ttl_hours: float = Field(
        default=168.0, description="Hours a stored URL classification is reused before refresh."
    )
    classification_retry_base_seconds: float = Field(
        default=60.0,
        description="Back-off after a failed fetch: base * 2^(failures-1) seconds, capped.",
    )
    classification_retry_max_seconds: float = Field(
        default=86_400.0, description="Longest back-off between fetch retries of one URL."
    )
    classification_max_attempts: int = Field(
        default=6, description="Failed fetches after which the worker stops retrying a URL."
    )
    classification_parallel_fetches: int = Field(
        default=8, ge=1, description="Pages the worker fetches at once (batches, store refresh)."
    )
    classification_tick_urls: int = Field(
        default=32, ge=1, description="Store rows the periodic classifier claims per tick."
    )
    classification_interval_seconds: float = Field(
        default=5.0, description="Seconds between ticks of the periodic URL classifier."
    )

    deal_id_prefix: str = Field(
        default="classify",
        description="First part of every issued deal id (classify-ttd-61-a8f3c).",
    )
    deal_ttl_hours: int = Field(
        default=720, description="Hours an issued deal stays active before it reads expired: true."
    )
    segment_build_wait_seconds: float = Field(
        default=900.0,
        description="Longest a segment build waits for the account's inventory to be classified.",
    )
    activation_webhook_url: str | None = Field(
        default=None,
        description="When set, each deal definition is POSTed (HMAC-signed) here before it is issued.",
    )
    activation_webhook_secret: str | None = Field(
        default=None, description="HMAC-SHA256 key that signs activation webhook requests."
    )
    activation_webhook_attempts: int = Field(
        default=5,
        description="Attempts at delivering an activation webhook before the activation fails.",
    )
    activation_webhook_backoff_seconds: float = Field(
        default=1.0, description="First wait between webhook attempts; doubles after each failure."
    )
    activation_webhook_timeout_seconds: float = Field(
        default=10.0, description="Timeout of one activation webhook request, in seconds."
    )

    console_session_idle_minutes: float = Field(
        default=480.0, gt=0, description="Console sign-in ends after this many idle minutes."
    )
    console_session_max_hours: float = Field(
        default=168.0, gt=0, description="Console sign-in ends this many hours after it began."
    )
    console_login_limit_per_email: str = Field(
        default="5/15 minutes",
        description="Failed console sign-ins allowed per email before it is locked out.",
    )
    console_login_limit_per_ip: str = Field(
        default="30/15 minutes",
        description="Failed console sign-ins allowed per client address before it is locked out.",
    )

    # The address `beacon serve` listens on: known to that process (and its in-process worker)
    # only, so it is no setting; a separate worker has just BEACON_PUBLIC_URL.
    _served_at: str | None = PrivateAttr(default=None)

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'beacon.db').resolve()}"

    @property
    def effective_pixel_spool_dir(self) -> Path:
        """Where pixel hits are spooled before they reach the rollups."""
        return self.pixel_spool_dir or self.data_dir / "spool" / "pixel"

    @property
    def effective_outbox_dir(self) -> Path:
        """Where direct mail print files and unconfigured email/SMS are written."""
        return self.messaging_outbox_dir or self.data_dir / "outbox"

    @property
    def trusted_proxy_list(self) -> list[str]:
        """``trusted_proxies`` as a list of CIDR strings."""
        return [cidr.strip() for cidr in self.trusted_proxies.split(",") if cidr.strip()]

    def serving_at(self, url: str) -> Settings:
        """These settings in the `beacon serve` process listening at ``url``."""
        served = self.model_copy()
        served._served_at = url.rstrip("/")
        return served

    @property
    def link_base_url(self) -> str | None:
        """Where links in messages point: BEACON_PUBLIC_URL, else the address this process's
        `beacon serve` listens on; None in a separate worker without BEACON_PUBLIC_URL."""
        return self.public_url.rstrip("/") if self.public_url else self._served_at

    @property
    def is_sqlite(self) -> bool:
        """Whether the configured database is the embedded SQLite file."""
        return self.effective_database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
