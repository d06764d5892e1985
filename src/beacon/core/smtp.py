"""``BEACON_SMTP_URL``, parsed in one place: the settings check at start, the messaging
email provider and the invitation mailer all read it through ``SmtpConfig``."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to connect, from ``BEACON_SMTP_URL``."""

    hostname: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    start_tls: bool | None = None  # None: STARTTLS when the server offers it
    # the operator's explicit consent (``plaintext_login=true``) to log in on a connection
    # that is not encrypted; otherwise credentials go only over TLS
    plaintext_login: bool = False

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        """Parse ``smtp://user:pass@host:587?starttls=true`` or ``smtps://host``; a
        ValueError (never naming the credentials) when it is not such a URL."""
        try:
            parts = urlsplit(url)
        except ValueError:
            # urllib's message quotes the netloc (credentials included): never passed on
            raise ValueError("BEACON_SMTP_URL must look like smtp://user:pass@host:port") from None
        try:
            port = parts.port
        except ValueError:
            raise ValueError(
                "the port in BEACON_SMTP_URL must be a number from 0 to 65535"
            ) from None
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("BEACON_SMTP_URL must look like smtp://user:pass@host:port")
        query = {k.lower(): v[-1].lower() for k, v in parse_qs(parts.query).items()}
        start_tls = _flag(query, "starttls")
        use_tls = parts.scheme == "smtps"
        return cls(
            hostname=parts.hostname,
            port=port or (465 if use_tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=use_tls,
            start_tls=False if use_tls else start_tls,
            plaintext_login=bool(_flag(query, "plaintext_login")),
        )

    @property
    def logs_in_only_in_clear(self) -> bool:
        """Credentials on a connection that can never be encrypted (``smtp://`` with
        ``starttls=false``) without the operator's ``plaintext_login=true``: such a URL can
        never send, since credentials go only over TLS."""
        return (
            self.username is not None
            and not self.use_tls
            and self.start_tls is False
            and not self.plaintext_login
        )

    def refuse_plaintext_login(self) -> str:
        """Why the credentials are not sent on a connection that is not encrypted."""
        return (
            f"the SMTP server {self.hostname}:{self.port} gave no encrypted connection (no "
            "STARTTLS) and BEACON_SMTP_URL has credentials, which are never sent unencrypted: "
            "use smtps:// or a server that offers STARTTLS, or add plaintext_login=true to "
            "BEACON_SMTP_URL to allow a login in clear text (only on a network you trust)"
        )


def _flag(query: dict[str, str], name: str) -> bool | None:
    if name not in query:
        return None
    if query[name] not in _TRUE | _FALSE:
        raise ValueError(f"{name} in BEACON_SMTP_URL must be true or false")
    return query[name] in _TRUE
