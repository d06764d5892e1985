"""Settings, read from ``BEACON_*`` environment variables (see the README's table)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Self

from limits import parse as parse_rate
from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from beacon.core.smtp import SmtpConfig

ENV_PREFIX = "BEACON_"


def env_var(field: str) -> str:
    """The environment variable that sets ``field`` (``job_lease_seconds`` ->
    ``BEACON_JOB_LEASE_SECONDS``)."""
    return f"{ENV_PREFIX}{field.upper()}"


def _shown_default(text: str) -> dict[str, Any]:
    """The default as the README's table shows it, when the field's own default (None, or a
    relative path) would say less."""
    return {"doc_default": text}


class SettingsError(ValueError):
    """Invalid ``BEACON_*`` settings; the message names each offending variable."""


class Settings(BaseSettings):
    """Every ``BEACON_*`` setting. The README's configuration table is generated from the
    field descriptions (``scripts/gen_config_table.py``); a test fails when they differ."""

    # No setting is infinite or NaN: "inf" seconds overflowed datetime arithmetic (a 500 on
    # every classify request under BEACON_CLASSIFICATION_GIVEN_UP_RETRY_SECONDS=inf).
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", allow_inf_nan=False)

    data_dir: Path = Field(
        default=Path("./var"),
        description="where the SQLite file, spool and outbox live",
        json_schema_extra=_shown_default("./var"),
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL; `postgresql+psycopg://user@host/db` for production "
        "(a secret: it may carry the database password)",
        json_schema_extra=_shown_default("sqlite:///<data dir>/beacon.db"),
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description="share rate-limit counters between processes through Redis "
        "(`redis://127.0.0.1:6379/0`; a secret: it may carry a password)",
    )
    rate_limit: str = Field(default="600/minute", description="request quota per API key")
    anonymous_rate_limit: str = Field(
        default="120/minute",
        description="quota per client IP (an IPv6 client: its /64) for requests without a valid key",
    )
    max_body_bytes: int = Field(
        default=10_000_000, ge=1, description="largest accepted request body (413 above)"
    )
    public_url: str | None = Field(
        default=None,
        description="base URL pixels and links use to reach this server (default: the address "
        "`beacon serve` listens on; a separate `beacon worker` needs it to send email)",
        json_schema_extra=_shown_default("http://<host>:<port>"),
    )
    log_level: str = Field(default="INFO", description="log level; logs are JSON lines on stderr")
    worker_in_process: bool = Field(
        default=True, description="`beacon serve` also runs a background worker"
    )
    worker_poll_interval: float = Field(
        default=0.5, gt=0, le=60, description="seconds an idle worker waits between polls"
    )
    worker_concurrency: int = Field(
        default=2,
        ge=1,
        le=32,
        description="handler threads per worker process; jobs and periodic ticks run on them, "
        "and 2 keeps a slow classifier tick from holding up jobs. On SQLite, writes of the "
        "threads still take turns",
    )
    job_lease_seconds: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        description="lease a worker holds (and renews) on a claimed job",
    )
    job_max_attempts: int = Field(
        default=3, ge=1, le=100, description="attempts before a job is marked failed"
    )
    stats_fold_interval_seconds: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="seconds between checks for closed days to fold into the campaign stats' "
        "month summaries (late hits to a folded day show in the stats after the next fold; "
        "today is always read live)",
    )
    report_max_rows: int = Field(
        default=2_000_000,
        ge=1,
        description="rows a pixel campaign/publisher report may have; a larger one fails with a "
        "message to narrow it",
    )
    report_brand_safety_max_urls: int = Field(
        default=250_000,
        ge=1,
        description="distinct page URLs a campaign report filtered by brand safety may cover "
        "(each is looked up in the classifications, in memory); a larger one fails with a "
        "message to narrow it",
    )
    segment_report_max_rows: int = Field(
        default=2_000_000,
        ge=1,
        description="rows a segment report (`/v1/clsfy/reports`) may have (its rows are built "
        "in memory, in one transaction); a larger one fails with a message to narrow it",
    )
    messaging_token_ttl_seconds: int = Field(
        default=3600, ge=1, description="lifetime of `/public/v1` OAuth access tokens"
    )
    messaging_read_rate_limit: str = Field(
        default="600/minute",
        description="`/public/v1` quota per OAuth client for read scopes (`campaigns:read`, "
        "`audiences:read`, `templates:read`)",
    )
    messaging_analytics_rate_limit: str = Field(
        default="120/minute",
        description="`/public/v1` quota per OAuth client for `analytics:read` (`/metrics`)",
    )
    messaging_write_rate_limit: str = Field(
        default="120/minute",
        description="`/public/v1` quota per OAuth client for write scopes and actions",
    )
    messaging_reach_max_age_seconds: int = Field(
        default=86400,
        ge=1,
        description="age after which an audience reach evaluation is reported stale",
    )
    smtp_url: SecretStr | None = Field(
        default=None,
        description="SMTP server for email sends: `smtp://user:pass@host:587?starttls=true` "
        "(`smtps://` for implicit TLS; without `starttls` STARTTLS is used when offered); "
        "credentials go only over an encrypted connection: a server that offers no STARTTLS "
        "is refused at send, and credentials with `starttls=false` at start, unless "
        "`plaintext_login=true` (a login in clear text, only on a trusted network); a URL "
        "that is not of this form (another scheme, a bad port, a flag other than true or "
        "false) is refused at start; unset: emails go to the outbox directory",
    )
    sms_api_base_url: str = Field(
        default="https://api.twilio.com",
        description="base URL of the Twilio-style SMS API "
        "(`POST <base>/2010-04-01/Accounts/<sid>/Messages.json`)",
    )
    sms_account_sid: str | None = Field(
        default=None,
        description="SMS provider account id (HTTP Basic user); unset: SMS go to the outbox "
        "directory; set together with the auth token and the from number",
    )
    sms_auth_token: SecretStr | None = Field(
        default=None, description="SMS provider auth token (HTTP Basic password)"
    )
    sms_from_number: str | None = Field(
        default=None, description="E.164 number (or sender id) SMS are sent from"
    )
    messaging_outbox_dir: Path | None = Field(
        default=None,
        description="where direct mail print files (CSV manifest + one document per piece, per "
        "batch) and unconfigured email/SMS are written",
        json_schema_extra=_shown_default("<data dir>/outbox"),
    )
    messaging_outbox_fsync: bool = Field(
        default=True,
        description="make every outbox document and manifest durable before the batch is "
        "renamed into place (one syncfs of the filesystem on Linux, else an fsync per file)",
    )
    messaging_email_rate_limit: float = Field(
        default=0.0,
        ge=0,
        description="emails per second per worker process (`0`: unlimited)",
    )
    messaging_sms_rate_limit: float = Field(
        default=0.0, ge=0, description="SMS per second per worker process (`0`: unlimited)"
    )
    messaging_direct_mail_rate_limit: float = Field(
        default=0.0,
        ge=0,
        description="direct mail pieces per second per worker process (`0`: unlimited)",
    )
    messaging_provider_concurrency: int = Field(
        default=4,
        ge=1,
        le=256,
        description="parallel SMTP connections / SMS API requests per worker process",
    )
    messaging_send_attempts: int = Field(
        default=5,
        ge=1,
        le=100,
        description="attempts per message on a transient failure (SMTP 4xx, HTTP 429/5xx) and "
        "per chunk while the provider is unreachable; then the recipient fails, or "
        "(unreachable) the execution fails",
    )
    messaging_retry_backoff_seconds: float = Field(
        default=1.0,
        ge=0,
        le=3600,
        description="first wait between delivery attempts; doubles after each",
    )
    messaging_send_timeout_seconds: float = Field(
        default=30.0, gt=0, description="timeout of one SMTP command or SMS API request"
    )
    messaging_unknown_outcome_policy: Literal["fail", "resend"] = Field(
        default="fail",
        description="recipients handed to a provider when their worker died: `fail` (reason "
        "`unknown_outcome_after_crash`, never sent twice) or `resend`",
    )
    messaging_batch_size: int = Field(
        default=500,
        ge=1,
        le=100_000,
        description="recipients per batch a worker claims with a lease",
    )
    messaging_inject_chunk_size: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="recipients marked `injected` and handed to the provider after one commit; "
        "up to `CHUNKS_IN_FLIGHT` (3) chunks are handed over at once (print files, which the "
        "outbox can account for after a crash, go a whole batch at a time). A crash leaves an "
        "unknown outcome only for messages whose hand-over had begun, at most one per connection "
        "(the batch's hand-over journal under `<data dir>/handover`, docs/orchestrate.md \"Crash "
        'safety")',
    )
    messaging_render_processes: int = Field(
        default=4,
        ge=1,
        le=64,
        description="template render processes per server or worker process; each render runs "
        "in one of them with hard limits (2 s of CPU, 128 MiB of address space above the "
        "process's baseline, killed at 2.2 s of wall time) and a killed process is replaced; "
        "when all stay busy for 1 s, a preview or preflight answers 503 with `Retry-After` "
        "(sends wait). See SECURITY.md",
    )
    messaging_scheduler_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="seconds between ticks of the campaign scheduler (one active across all "
        "workers)",
    )

    trusted_proxies: str = Field(
        default="",
        description="comma-separated CIDRs (e.g. `10.0.0.0/8,173.245.48.0/20`) whose "
        "`X-Forwarded-For` and CDN country headers (`CF-IPCountry`, ...) the pixel collector "
        "believes",
    )
    geoip_mmdb_path: str | None = Field(
        default=None,
        description="MaxMind-format `.mmdb` country database; unset: the offline IP-to-country "
        "data bundled with `iptocc`",
    )
    extra_bot_patterns: Path | None = Field(
        default=None,
        description="file of your own bot User-Agent patterns, one regular expression per line "
        "(`#` comments), matched case-insensitively after the AI-agent lists and counted as "
        '`known_crawler` (docs/measure.md, "Invalid traffic")',
    )
    ivt_activity_max_per_minute: int = Field(
        default=30,
        ge=1,
        description="impressions of one campaign a client (IP and User-Agent) may load in one "
        "UTC minute; the loads past it are invalid traffic with reason `activity`",
    )
    pixel_spool_dir: Path | None = Field(
        default=None,
        description="pixel hit spool; several `beacon serve` processes may share it",
        json_schema_extra=_shown_default("<data dir>/spool/pixel"),
    )
    pixel_flush_interval: float = Field(
        default=1.0,
        gt=0,
        le=86_400,
        description="seconds between spool flushes into the pixel rollups",
    )
    pixel_segment_max_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1, description="size at which a spool segment is sealed early"
    )
    pixel_spool_fsync: bool = Field(
        default=True,
        description="fsync each sealed spool segment (done by the flusher, not per hit)",
    )
    pixel_spool_max_backlog_bytes: int = Field(
        default=2 * 1024**3,
        ge=1,
        description="unflushed spool bytes above which the collector answers 503 "
        "(back-pressure) instead of accepting hits",
    )
    pixel_max_url_bytes: int = Field(
        default=8192,
        ge=1,
        description="longest pixel request target or `Referer`; longer hits get the GIF but "
        "are not counted (a target over 64 KiB never is)",
    )
    pixel_max_beacon_bytes: int = Field(
        default=16384, ge=1, description="largest script-tag beacon body (`POST /px/{id}`)"
    )
    pixel_flushers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="flusher child processes per `beacon serve`, at a lower CPU priority so "
        "enrichment never stalls the hot path: each spool segment is claimed by one of them, so a backlog is flushed on "
        "that many cores at once (give it the cores the server does not need)",
    )
    pixel_flusher_profile_dir: Path | None = Field(
        default=None,
        description="benchmarks only: each pixel flush loop profiles itself (cProfile, which "
        "slows it down) and writes `flusher-<pid>.prof` there when it stops",
    )

    fetch_allow_private_networks: bool = Field(
        default=False,
        description="let the classifier fetch loopback, private and link-local addresses "
        "(tests, intranets); off: refused (SSRF guard)",
    )
    fetch_connect_timeout: float = Field(
        default=5.0, gt=0, description="seconds to connect when fetching a page to classify"
    )
    fetch_read_timeout: float = Field(
        default=10.0, gt=0, description="seconds to wait for response bytes when fetching a page"
    )
    fetch_total_timeout: float = Field(
        default=30.0,
        gt=0,
        description="upper bound in seconds on one page fetch, redirects included (at least "
        "the connect and the read timeout)",
    )
    fetch_respect_robots: bool = Field(
        default=True, description="honour `robots.txt` when fetching pages to classify"
    )
    classification_ttl_hours: float = Field(
        default=168.0,
        gt=0,
        le=87_600,
        description="hours a stored URL classification is reused before it is refreshed",
    )
    classification_retry_base_seconds: float = Field(
        default=60.0,
        gt=0,
        le=31_536_000,
        description="back-off after a failed fetch: base × 2^(failures−1) seconds",
    )
    classification_retry_max_seconds: float = Field(
        default=86_400.0,
        gt=0,
        le=31_536_000,
        description="longest back-off between fetch retries of one URL (at least the base); "
        "also bounds the wait a 429 or 503 asks for in its Retry-After",
    )
    classification_max_attempts: int = Field(
        default=6,
        ge=1,
        le=100,
        description="failed fetches after which the worker stops retrying a URL that never "
        "classified; a failure that may pass (timeout, connection error, host not resolved, HTTP "
        "408/425/429/5xx, robots.txt 5xx) is retried until the failures have also lasted "
        "`BEACON_CLASSIFICATION_RETRY_WINDOW_HOURS`",
    )
    classification_retry_window_hours: float = Field(
        default=72.0,
        ge=0,
        le=8_760,
        description="hours a URL whose fetches fail in a way that may pass (site down or "
        "overloaded, robots.txt 5xx) keeps being retried, counted from its first failure, "
        "before the worker gives it up (once it has also failed "
        "`BEACON_CLASSIFICATION_MAX_ATTEMPTS` times); 0: such failures count like any other",
    )
    classification_given_up_retry_seconds: float = Field(
        default=3_600.0,
        ge=0,
        le=31_536_000,
        description="seconds after a URL's last failed fetch before an API request (one URL, "
        "or a batch) fetches again a URL the worker has given up; meanwhile the request answers "
        "that failure without fetching; 0: every request fetches it again",
    )
    classification_parallel_fetches: int = Field(
        default=8,
        ge=1,
        le=256,
        description="pages the worker fetches at once (batches, store refresh)",
    )
    classification_tick_urls: int = Field(
        default=32,
        ge=1,
        le=10_000,
        description="store rows the periodic classifier claims per tick",
    )
    classification_min_confidence: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="abstain threshold: a page whose best category has a calibrated "
        "confidence below it gets no `iab_categories` and the note `low_confidence`; unset, "
        "the threshold the shipped calibration table was fitted with (its `abstain_below`, "
        "docs/understand.md#confidence); applies to pages classified after a change",
    )
    classification_interval_seconds: float = Field(
        default=5.0,
        gt=0,
        le=86_400,
        description="seconds between ticks of the periodic URL classifier",
    )

    deal_id_prefix: str = Field(
        default="classify",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$",
        description="first part of issued deal ids (`classify-ttd-61-a8f3c`): 1-32 letters, "
        "digits, '.', '_' or '-' (a deal id is at most 200 characters, as DSPs take them)",
    )
    deal_ttl_hours: int = Field(
        default=720,
        ge=1,
        description="hours an issued deal stays active; afterwards it keeps `status: complete` "
        "and reads `expired: true` (`expires_date` says when)",
    )
    segment_build_wait_seconds: float = Field(
        default=900.0,
        ge=0,
        description="longest a segment build stays `pending` while the account's inventory is "
        "still queued for classification; afterwards it builds from what is classified",
    )
    activation_webhook_url: str | None = Field(
        default=None,
        description="when set, each deal definition is POSTed here (HMAC-signed) and the deal "
        "is issued only on a 2xx",
    )
    activation_webhook_secret: SecretStr | None = Field(
        default=None,
        description="HMAC-SHA256 key for `X-Beacon-Signature` (required with the webhook URL)",
    )
    activation_webhook_attempts: int = Field(
        default=5,
        ge=1,
        le=100,
        description="webhook attempts before the activation is marked `failed`",
    )
    activation_webhook_backoff_seconds: float = Field(
        default=1.0,
        ge=0,
        le=3600,
        description="first wait between webhook attempts; doubles after each failure",
    )
    activation_webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="timeout of one webhook request"
    )

    console_session_idle_minutes: float = Field(
        default=480.0, gt=0, description="a console sign-in ends after this many idle minutes"
    )
    console_session_max_hours: float = Field(
        default=168.0,
        gt=0,
        description="a console sign-in ends this many hours after it began, active or not",
    )
    console_login_limit_per_email: str = Field(
        default="5/15 minutes",
        description="failed console sign-ins per email before that email is locked out for "
        "the window",
    )
    console_login_limit_per_ip: str = Field(
        default="30/15 minutes",
        description="failed console sign-ins per client address (behind "
        "`BEACON_TRUSTED_PROXIES`: the real client; IPv6: its /64 network) before it is "
        "locked out",
    )

    # The address `beacon serve` listens on: known to that process (and its in-process worker)
    # only, so it is no setting; a separate worker has just BEACON_PUBLIC_URL.
    _served_at: str | None = PrivateAttr(default=None)

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    # Read at first use, a bad value would answer 500 to every request (or crash `beacon
    # serve` after its first-start banner): both are refused at start, naming the variable.
    @field_validator(
        "rate_limit",
        "anonymous_rate_limit",
        "messaging_read_rate_limit",
        "messaging_analytics_rate_limit",
        "messaging_write_rate_limit",
        "console_login_limit_per_email",
        "console_login_limit_per_ip",
    )
    @classmethod
    def _a_rate(cls, value: str) -> str:
        try:
            parse_rate(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a rate such as '600/minute' or '5/15 minutes'"
            ) from None
        return value

    @field_validator("database_url")
    @classmethod
    def _a_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        # Parsed at first use, a malformed URL was a SQLAlchemy traceback; the message leaves
        # the value out (it may carry a password).
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        if value is not None and value.get_secret_value():
            try:
                make_url(value.get_secret_value())
            except (ArgumentError, ValueError):
                raise ValueError(
                    "not a database URL such as 'postgresql+psycopg://user@host/db' "
                    "or 'sqlite:////abs/path/beacon.db'"
                ) from None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for cidr in (part.strip() for part in value.split(",")):
            try:
                if cidr:
                    ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(
                    f"{cidr!r} is not a network such as '10.0.0.0/8' or '2001:db8::/32'"
                ) from None
        return value

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with ``update`` applied; ``model_copy`` does not validate, so a secret given
        as a plain string is wrapped here and a copy's secrets are ``SecretStr`` like a loaded
        instance's (``settings.model_copy(update={"smtp_url": url})`` keeps working)."""
        if update:
            update = {
                name: SecretStr(value)
                if name in _SECRET_FIELDS and isinstance(value, str)
                else value
                for name, value in update.items()
            }
        return super().model_copy(update=update, deep=deep)

    @model_validator(mode="after")
    def _check_pairs(self) -> Settings:
        problems = [*self._missing_partners(), *self._misordered_bounds()]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _missing_partners(self) -> list[str]:
        """Settings that only work together: one without the other is refused at start
        rather than failing (or silently falling back to the outbox) at the first send."""
        problems = []
        if self.activation_webhook_url and not _revealed(self.activation_webhook_secret):
            problems.append(
                f"{env_var('activation_webhook_secret')} must be set when "
                f"{env_var('activation_webhook_url')} is set (it signs the webhook requests)"
            )
        sms = {
            "sms_account_sid": bool(self.sms_account_sid),
            "sms_auth_token": bool(_revealed(self.sms_auth_token)),
            "sms_from_number": bool(self.sms_from_number),
        }
        if any(sms.values()) and not all(sms.values()):
            given = ", ".join(env_var(name) for name, is_set in sms.items() if is_set)
            missing = ", ".join(env_var(name) for name, is_set in sms.items() if not is_set)
            problems.append(f"{missing} must be set as well when {given} is set (SMS provider)")
        smtp_url = _revealed(self.smtp_url)
        if smtp_url:
            try:
                smtp = SmtpConfig.from_url(smtp_url)
            except ValueError as exc:
                problems.append(str(exc))
            else:
                if smtp.logs_in_only_in_clear:
                    problems.append(
                        f"{env_var('smtp_url')} has credentials and starttls=false, and "
                        "credentials are never sent unencrypted: use smtps://, drop "
                        "starttls=false, or add plaintext_login=true (only on a network you "
                        "trust)"
                    )
        return problems

    def _misordered_bounds(self) -> list[str]:
        """A lower bound above its upper bound. (A connect or read timeout above the total
        fetch timeout is not one: the total simply ends the fetch first, and lowering only it
        is how an operator makes fetches shorter.)"""
        pairs = [("classification_retry_base_seconds", "classification_retry_max_seconds")]
        return [
            f"{env_var(low)} ({getattr(self, low)}) must not exceed {env_var(high)} "
            f"({getattr(self, high)})"
            for low, high in pairs
            if getattr(self, low) > getattr(self, high)
        ]

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if url := _revealed(self.database_url):
            return url
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


_SECRET_FIELDS = frozenset(
    name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)
)


def _revealed(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (``overrides`` win); ``SettingsError`` naming each
    offending ``BEACON_*`` variable when they are invalid."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc)) from None


def describe_errors(exc: ValidationError) -> str:
    """One line per problem, each naming the environment variable (secrets never echoed)."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        message = error["msg"].removeprefix("Value error, ")
        field = error["loc"][0] if error["loc"] else None
        lines.append(f"{env_var(str(field))}: {message}" if field else message)
    return "invalid configuration: " + "; ".join(lines)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return load_settings()
