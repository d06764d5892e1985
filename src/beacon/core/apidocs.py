"""Interactive API docs at /docs: Swagger UI served from the package, never from a CDN.

The assets (swagger-ui-dist, Apache-2.0, LICENSE beside them) live in ``core/data/swagger-ui``
so the page works offline and under a CSP that allows this server's own scripts and styles only.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from starlette.responses import HTMLResponse, Response

from beacon.core.errors import NotFound

DOCS_PATH = "/docs"
STATIC_PATH = f"{DOCS_PATH}/static"
SWAGGER_UI_VERSION = "5.17.14"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "beacon-init.js": "text/javascript; charset=utf-8",
    "LICENSE": "text/plain; charset=utf-8",
    "NOTICE": "text/plain; charset=utf-8",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}

router = APIRouter(include_in_schema=False)


def docs_page(openapi_url: str) -> str:
    """The /docs HTML: stylesheet, bundle and our init script, all from this server."""
    version = SWAGGER_UI_VERSION
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Beacon API docs</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{STATIC_PATH}/swagger-ui.css?v={version}">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="{STATIC_PATH}/swagger-ui-bundle.js?v={version}"></script>
<script src="{STATIC_PATH}/beacon-init.js?v={version}"></script>
</body>
</html>
"""


@cache
def _asset(name: str) -> bytes:
    return resources.files("beacon.core").joinpath("data", "swagger-ui", name).read_bytes()


@router.get(DOCS_PATH)
def swagger_ui() -> HTMLResponse:
    """Swagger UI for /openapi.json."""
    return HTMLResponse(docs_page("/openapi.json"), headers=SECURITY_HEADERS)


@router.get(f"{STATIC_PATH}/{{name}}")
def swagger_ui_asset(name: str) -> Response:
    """One of the vendored Swagger UI files (long cache: URLs carry the version)."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"No documentation asset {name}")
    return Response(
        _asset(name),
        media_type=media_type,
        headers={**SECURITY_HEADERS, "cache-control": "public, max-age=86400"},
    )
