"""URL normalisation shared by the domains: one list of tracking parameters, two forms.

Click and campaign identifiers (`utm_*` and `TRACKING_PARAMS`) make every visit's URL unique
without naming a new page, so both forms drop them:

- `normalize_page_url`: the page a pixel hit counts under (rollups, reports). The query keeps
  its order and its encoding as the page sent it; anything that is not an http(s) URL is ''.
- `normalize_url`: the cache key of a fetched page (contextual classification). The query is
  decoded, sorted and re-encoded, so two spellings of one page share a key.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "gclid", "gbraid", "wbraid", "dclid", "fbclid", "msclkid", "yclid", "twclid", "igshid",
        "mc_cid", "mc_eid", "_ga", "_gl", "li_fat_id", "ref_src", "s_cid", "mkt_tok",
    }
)  # fmt: skip
_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_tracking_param(name: str) -> bool:
    """Whether a query parameter is a click or campaign identifier (`utm_*` included)."""
    lowered = name.lower()
    return lowered.startswith("utm_") or lowered in TRACKING_PARAMS


def normalize_page_url(value: str | None) -> str:
    """An http(s) page URL without fragment and tracking ids, host lowercased; '' if not one."""
    if not value:
        return ""
    value = value.strip()
    if not value[:8].lower().startswith(("http://", "https://")):
        return ""
    try:
        parts = urlsplit(value)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return ""
    if not host:
        return ""
    if ":" in host:  # an IPv6 literal keeps its brackets, or the port would run into it
        host = f"[{host}]"
    netloc = host if port is None or port in (80, 443) else f"{host}:{port}"
    query = parts.query
    if query and ("utm_" in query or any(key in query for key in TRACKING_PARAMS)):
        query = "&".join(
            pair for pair in query.split("&") if not is_tracking_param(pair.split("=", 1)[0])
        )
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", query, ""))


def normalize_url(url: str) -> str:
    """Cache key form of a URL: lowercase scheme/host, no fragment, default port, tracking."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid port in URL: {url!r}") from exc
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        host = f"{host}:{port}"
    query = sorted(
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not is_tracking_param(key)
    )
    return urlunsplit((scheme, host, parts.path or "/", urlencode(query), ""))
