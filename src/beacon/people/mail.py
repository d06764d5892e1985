"""Invitation emails, sent through the SMTP server of ``BEACON_SMTP_URL`` (the settings
messaging uses). Without one, the console shows the link for the admin to pass on."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from urllib.parse import urlsplit

from beacon.core.config import Settings
from beacon.core.errors import APIError
from beacon.core.smtp import SmtpConfig

TIMEOUT_SECONDS = 15.0


class MailFailed(APIError):
    status = 502
    code = "mail_failed"


def can_send(settings: Settings) -> bool:
    """Whether invitations go out by email (an SMTP server is configured)."""
    return bool(settings.smtp_url)


def invitation_message(
    *, settings: Settings, to: str, link: str, account_name: str, inviter: str, role: str
) -> EmailMessage:
    """The invitation email: who invites whom into which account, and the one-time link."""
    inviter, account_name = _one_line(inviter), _one_line(account_name)
    host = urlsplit(settings.public_url or "").hostname or "localhost"
    message = EmailMessage()
    message["From"] = formataddr(("Beacon", f"no-reply@{host}"))
    message["To"] = to
    message["Subject"] = f"{inviter} invited you to {account_name} on Beacon"
    message["Message-ID"] = make_msgid(domain=host)
    message.set_content(
        f"{inviter} invited you to join the account {account_name} on Beacon as {role}.\n\n"
        f"Accept the invitation (the link works once, for 72 hours):\n{link}\n\n"
        "If you did not expect this, ignore this email.\n"
    )
    return message


def _one_line(text: str) -> str:
    """``text`` with every run of whitespace (line breaks included) as one space: a header
    value may not hold a line break, and a name must not start a header of its own."""
    return " ".join(text.split())


def send(*, settings: Settings, message: EmailMessage) -> None:
    """Hand ``message`` to the configured SMTP server; ``MailFailed`` (502) when it refuses."""
    assert settings.smtp_url is not None
    try:
        # inside the handling: settings checked at start never hold a URL it cannot parse,
        # but settings built in code (model_copy) skip that check
        config = SmtpConfig.from_url(settings.smtp_url.get_secret_value())
        client: smtplib.SMTP = (
            smtplib.SMTP_SSL(config.hostname, config.port, timeout=TIMEOUT_SECONDS)
            if config.use_tls
            else smtplib.SMTP(config.hostname, config.port, timeout=TIMEOUT_SECONDS)
        )
        with client:
            client.ehlo()
            encrypted = config.use_tls
            if not config.use_tls and (
                config.start_tls or (config.start_tls is None and client.has_extn("starttls"))
            ):
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
                encrypted = True
            if config.username:
                # never in clear text unless the operator allowed it (plaintext_login=true)
                if not encrypted and not config.plaintext_login:
                    raise smtplib.SMTPException(config.refuse_plaintext_login())
                client.login(config.username, config.password or "")
            client.send_message(message)
    except (OSError, ValueError, smtplib.SMTPException) as exc:
        raise MailFailed(
            f"The invitation could not be emailed ({type(exc).__name__}: {exc}); "
            "copy the link below and send it yourself"
        ) from None
