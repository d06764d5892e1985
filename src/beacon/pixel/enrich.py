"""Database-free enrichment of pixel hits, run off the request path by the hit consumer.

Everything here is pure and cached; the collector calls it per hit:

- `registrable_domain` (domains.py): publisher domain of a URL or host.
- `device_type` (useragent.py): desktop / mobile / tablet / ctv.
- `classify_traffic` (agents.py): human / bot / ai_agent from the User-Agent alone; the
  consumer's full invalid-traffic decision (reasons, data centers, activity) is ivt.py.
- `CountryResolver` (geo.py): viewer country from trusted CDN headers or the client IP.
- `extract_macros`, `site_macro_domain`, `is_misrepresented` (below): the DSP-expanded macro
  values a pixel carries, and whether the site the DSP declared is the site the ad was on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from beacon.core.registrable_domains import registrable_domain
from beacon.core.urls import CONTROL_CHARACTERS
from beacon.pixel.agents import TrafficInfo, TrafficType, classify_traffic
from beacon.pixel.geo import CountryResolver
from beacon.pixel.macros import PAGE_URL_PARAM, SITE_PARAM
from beacon.pixel.useragent import DEVICE_TYPES, DeviceType, device_type

__all__ = [
    "DEVICE_TYPES",
    "MAX_MACRO_KEY_CHARS",
    "MAX_MACRO_PARAMS",
    "MAX_MACRO_VALUE_CHARS",
    "PAGE_URL_MACRO_KEYS",
    "SITE_MACRO_KEYS",
    "CountryResolver",
    "DeviceType",
    "HitRejected",
    "TrafficInfo",
    "TrafficType",
    "classify_traffic",
    "device_type",
    "extract_macros",
    "is_misrepresented",
    "is_unexpanded_macro",
    "registrable_domain",
    "site_macro_domain",
]

MAX_MACRO_PARAMS = 20
MAX_MACRO_KEY_CHARS = 64
MAX_MACRO_VALUE_CHARS = 512

# Keys whose value is the site the DSP says it bought, most specific first. `site` is what
# Beacon's own pixel code sends; `google-site` is the spelling of the Campaign Reporting
# document (`google-site=%%SITE%%`); the others are common hand-written spellings.
SITE_MACRO_KEYS: tuple[str, ...] = (SITE_PARAM, "google-site", "ttd-site", "domain", "site_domain")
# Keys carrying the page URL the DSP saw; its domain is the declaration when no site key is set.
PAGE_URL_MACRO_KEYS: tuple[str, ...] = (PAGE_URL_PARAM, "page", "source_url", "referrer_url")

# A value that still looks like a macro was not expanded by whoever served the ad.
_UNEXPANDED = re.compile(
    r"%%[^%\s]{1,64}%%"  # Google Ad Manager / AdX, The Trade Desk: %%SITE%%, %%TTD_SITE%%
    r"|\$\{[^}\s]{1,64}\}"  # DV360, Xandr, Adobe, Yahoo DSP: ${SOURCE_URL_ENC}
    r"|\{\{[^}]{1,64}\}\}"  # {{site}}
    r"|\{[A-Za-z0-9_.:-]{1,64}\}"  # {DOMAIN}, {creative}
    r"|\[[A-Za-z0-9_.:%-]{1,64}\]"  # [timestamp], [CACHEBUSTER], [%orderid%]
    r"|__[A-Z0-9_]{1,64}__"  # __CS_CREATIVE_ID__
    r"|%e[a-z]{2,6}!|%[a-z]"  # Campaign Manager 360: %ecid!, %epid!, %n, %s
)


class HitRejected(Exception):
    """A hit breaks a hard limit and is not counted; `reason` is a stable snake_case code.

    Deliberately not an APIError: the collector answers a pixel request the same way whatever
    happens to the hit, and counts rejections by `reason` in its metrics.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def is_unexpanded_macro(value: str) -> bool:
    """True when `value` is a macro placeholder the DSP or ad server left unexpanded."""
    return _UNEXPANDED.fullmatch(value.strip()) is not None


def extract_macros(query_params: Iterable[tuple[str, str]], reserved: set[str]) -> dict[str, str]:
    """Macro key/values from a hit's parameters; raises HitRejected when over a limit.

    Reserved keys (the collector's own, e.g. `url`, `ref`) are skipped. Empty values and
    placeholders a DSP did not expand are dropped, since they say nothing about the
    impression. The first value of a repeated key wins. Limits: at most 20 distinct keys, key
    at most 64 characters, value at most 512 characters, no control characters.
    """
    macros: dict[str, str] = {}
    for key, value in query_params:
        if not key or key in reserved or key in macros:
            continue
        if len(key) > MAX_MACRO_KEY_CHARS:
            raise HitRejected("macro_key_too_long", key[:MAX_MACRO_KEY_CHARS])
        if len(value) > MAX_MACRO_VALUE_CHARS:
            raise HitRejected("macro_value_too_long", key)
        # Control characters are not printable: the regex runs only when a string is not.
        if not (key.isprintable() and value.isprintable()) and (
            CONTROL_CHARACTERS.search(key) or CONTROL_CHARACTERS.search(value)
        ):
            raise HitRejected("macro_control_characters", key)
        value = value.strip()
        # Every placeholder syntax has punctuation: ids and numbers skip the regex.
        if not value or (not value.isalnum() and is_unexpanded_macro(value)):
            continue
        if len(macros) == MAX_MACRO_PARAMS:
            raise HitRejected("too_many_macros", f"more than {MAX_MACRO_PARAMS}")
        macros[key] = value
    return macros


def site_macro_domain(macros: Mapping[str, str]) -> str | None:
    """Registrable domain of the site the DSP declared in the macros, or None if none did.

    Site keys win over page-URL keys; `app_bundle` is never a site (a bundle id such as
    `com.spotify.music` would parse as the domain `spotify.music`).
    """
    lowered = {key.lower(): value for key, value in macros.items()}
    for key in (*SITE_MACRO_KEYS, *PAGE_URL_MACRO_KEYS):
        value = lowered.get(key)
        if value:
            domain = registrable_domain(value)
            if domain:
                return domain
    return None


def is_misrepresented(declared: str | None, observed_domain: str | None) -> bool:
    """True when the declared site and the observed page are different registrable domains.

    Unknown on either side is not evidence of misrepresentation, so it answers False.
    """
    declared_domain = registrable_domain(declared)
    observed = registrable_domain(observed_domain)
    if declared_domain is None or observed is None:
        return False
    return declared_domain != observed
