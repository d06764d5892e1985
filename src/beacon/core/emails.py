"""Email addresses as every family checks them: email_validator's syntax (no DNS lookup),
lower-cased, since contacts and users are matched case-insensitively."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from beacon.core.errors import clipped

# email_validator names every unsafe character it finds ("EN QUAD, EM QUAD, ..."): a message
# about a hostile address can run to a thousand characters, echoed in the response and the logs.
MAX_REASON_CHARS = 200


def normalise_email(value: str) -> str:
    """``value`` as a normalised, lower-cased address; ValueError saying why it is not one."""
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(clipped(str(exc), MAX_REASON_CHARS)) from None
