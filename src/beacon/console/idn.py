"""Internationalised domain names in the console: Beacon stores hosts and domains in their ASCII
(IDNA, ``xn--``) form, the form the fetcher asks DNS for; people read and type the Unicode one.
Pages show ``unicode_domain`` / ``unicode_url`` (the ``domain`` and ``url`` template filters),
and a domain typed in either form filters as ``beacon.core.urls.ascii_domain`` stores it
(segment rules match the same way)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import idna

from beacon.core.urls import ascii_domain

__all__ = ["ascii_domain", "unicode_domain", "unicode_url"]

_ACE = "xn--"


def unicode_domain(value: str | None) -> str:
    """A stored domain or host as people read it: 'xn--bcher-kva.de' -> 'bücher.de'.

    Label by label, so that a label IDNA refuses (a host with '_', a malformed 'xn--') stays
    as it is stored rather than hiding the whole name."""
    if not value or _ACE not in value.lower():
        return value or ""
    return ".".join(_unicode_label(label) for label in value.split("."))


def _unicode_label(label: str) -> str:
    if not label.lower().startswith(_ACE):
        return label
    try:
        return idna.decode(label)
    except (idna.IDNAError, UnicodeError):
        return label


def unicode_url(value: str | None) -> str:
    """A stored URL with its host as people read it (path and query as stored)."""
    if not value or _ACE not in value.lower():
        return value or ""
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return value
    if not host or _ACE not in host:
        return value
    netloc = parts.netloc.replace(host, unicode_domain(host), 1)
    return urlunsplit(parts._replace(netloc=netloc))
