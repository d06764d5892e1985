"""The console at /app: every page module's routes, the static files, HTML error pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse, Response

from beacon.console import pages, web
from beacon.core.errors import NotFound
from beacon.core.http import register_error_page

STATIC_DIR = (Path(__file__).parent / "static").resolve()

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)
register_error_page(web.PREFIX + "/", web.error_page)


@router.get("")
def console_root() -> Response:
    """/app without its slash."""
    return web.redirect(web.PREFIX + "/")


@router.get("/static/{path:path}")
def static_file(path: str) -> Response:
    """A file of the console's static directory (long cache: URLs carry the version)."""
    target = (STATIC_DIR / path).resolve()
    if not target.is_file() or STATIC_DIR not in target.parents:
        raise NotFound(f"No static file {path}")
    response = FileResponse(target)
    response.headers["cache-control"] = "public, max-age=86400"
    response.headers["x-content-type-options"] = "nosniff"
    return response


for page_router in pages.routers():
    router.include_router(page_router)
