"""The console at /app: every page module's routes, the static files, HTML error pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response
from starlette.routing import Match

from beacon.console import pages, web
from beacon.core.errors import NotFound
from beacon.core.http import register_error_page
from beacon.core.jsonbody import api_routes

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


def _section_root(section: str) -> None:
    """``/app/<section>`` (``/app/settings``, ``/app/pixel``: what a person shortens a page's
    address to) opens the section's first page the viewer's navigation offers."""

    def open_first_page(viewer: web.CurrentViewer) -> Response:
        for item in (item for nav in pages.nav_sections(viewer) for item in nav.items):
            if item.href.startswith(f"{web.PREFIX}/{section}/"):
                return web.redirect(item.href)
        raise NotFound(f"No page of /app/{section} is open to your role")

    router.add_api_route(f"/{section}", open_first_page, methods=["GET"])


for section in sorted({item.href.split("/")[2] for item in pages.nav_items()}):
    _section_root(section)


_ANY_METHOD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


# Last, so that every page's own route is tried first.
@router.api_route("/{path:path}/", methods=list(_ANY_METHOD))
def without_trailing_slash(request: Request, path: str) -> Response:
    """A console path with a trailing slash (typed, or kept by a bookmark): 308 to the page
    without it, query string kept (POST stays a POST). A relative Location, never an absolute
    http:// URL (a downgrade behind TLS). The JSON APIs keep their 404 naming the bare path.

    Only to a page that answers the request's method: any other path, or method, is the 404
    it was before this route (not a 405, nor a redirect to a page that answers 405); and the
    slash must be a real one, not an escaped ``%2F``, which would redirect to itself."""
    raw = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
    bare = raw.rstrip("/")
    scope = {**request.scope, "path": request.url.path.rstrip("/")}
    answers = any(route.matches(scope)[0] == Match.FULL for route in request.app.routes)
    if bare == raw or not answers:
        raise HTTPException(404)  # the usual "No route matches ..." page
    query = request.url.query
    location = bare + (f"?{query}" if query else "")
    return web.with_headers(Response(status_code=308, headers={"location": location}))


def _answer_head_as_get() -> None:
    """Every console GET page answers HEAD as it answers GET (status, headers; the server sends
    no body): uptime monitors and link checkers use HEAD, and FastAPI routes do not add it as
    Starlette's do. Here, once, for every page module's routes. No console GET changes
    anything a HEAD must not (invitation links and form nonces are only read or made on a
    GET, never used up; a session's last-seen time moves as on any visit)."""
    for route in api_routes(router.routes):
        if route.methods is not None and "GET" in route.methods:
            route.methods.add("HEAD")


_answer_head_as_get()
