"""The console's home: Measure's campaigns are where people start."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from beacon.console import web

router = APIRouter()


@router.get("/")
def home(request: Request, viewer: web.CurrentViewer) -> Response:
    return web.redirect(web.PREFIX + "/pixel/campaigns")
