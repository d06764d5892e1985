"""The unsubscribe link every email carries: ``GET /u/{token}`` (a person clicking it) and
``POST /u/{token}`` (RFC 8058 one-click, sent by mail clients from ``List-Unsubscribe-Post``).

No authentication: the unguessable per-contact token is the credential. The answer is a small
HTML page, since a person reads it in a browser.
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from beacon.core.deps import DbSession
from beacon.core.jsonbody import StrictJSONRoute
from beacon.messaging.audiences import contacts
from beacon.messaging.templates.service import PREVIEW_UNSUBSCRIBE_TOKEN

router = APIRouter(tags=["Orchestrate: unsubscribe"], route_class=StrictJSONRoute)
# The pages are HTML; a request refused before reaching them gets the JSON error body.
_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown link", "content": {"text/html": {"schema": {"type": "string"}}}},
    422: {
        "description": "Validation error (well-formed but invalid values)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/V1Error"}}},
    },
}

_PAGE = (
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>'
    "<body><h1>{title}</h1><p>{text}</p></body></html>\n"
)


def _page(title: str, text: str, status: int) -> HTMLResponse:
    body = _PAGE.format(title=html.escape(title), text=html.escape(text))
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _unsubscribe(token: str, session: DbSession) -> HTMLResponse:
    if token == PREVIEW_UNSUBSCRIBE_TOKEN:
        return _page(
            "Preview link",
            "This is the placeholder unsubscribe link of a preview or test message; it "
            "unsubscribes nobody. Each real message carries its recipient's own link.",
            404,
        )
    if not contacts.unsubscribe(session=session, token=token):
        return _page("Link not found", "This unsubscribe link is not valid.", 404)
    return _page("You are unsubscribed", "You will not receive these emails any more.", 200)


@router.get(
    "/u/{token}",
    response_class=HTMLResponse,
    responses=_RESPONSES,
    summary="Unsubscribe from email (the link in every message)",
)
def unsubscribe_link(token: str, session: DbSession) -> HTMLResponse:
    return _unsubscribe(token, session)


@router.post(
    "/u/{token}",
    response_class=HTMLResponse,
    responses=_RESPONSES,
    summary="One-click unsubscribe (RFC 8058 List-Unsubscribe-Post)",
)
def unsubscribe_one_click(token: str, session: DbSession) -> HTMLResponse:
    return _unsubscribe(token, session)
