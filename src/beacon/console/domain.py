"""The console at /app: server-rendered pages over the other domains' services."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter

from beacon.core.domain import Domain


def _routers() -> Sequence[APIRouter]:
    from beacon.console.router import router

    return [router]


# The console keeps its own UI state in the URL: its pages take parameters they do not declare.
# An invitation link's last segment is its one-time token: access logs show it redacted.
DOMAIN = Domain(
    name="console",
    routers=_routers,
    open_query_prefixes=("/app",),
    secret_path_prefixes=("/app/invite/",),
)
