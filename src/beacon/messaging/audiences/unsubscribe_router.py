"""The unsubscribe link every email carries, ``/u/{token}``.

``GET`` (a person clicking the link, or a mail scanner fetching it) answers a page with one
button and changes nothing; the button, and an RFC 8058 one-click request that a mail client
sends from ``List-Unsubscribe-Post``, ``POST`` to the same address, which unsubscribes. RFC 8058
gives the reason: anti-spam software and corporate link scanners (Safe Links and the like) fetch
every link of a message, and "there is no mechanical way for a sender to tell whether a request
was made automatically", so a ``GET`` that acted unsubscribed recipients nobody asked for.

No authentication: the unguessable per-contact token is the credential. The answers are small
HTML pages, since a person reads them in a browser.
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
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    '<meta name="robots" content="noindex">'
    "<title>{title}</title></head><body><h1>{title}</h1><p>{text}</p>{form}</body></html>\n"
)
# Posts to the page's own address (no action), the one-click request's address too.
_CONFIRM_FORM = (
    '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
    '<button type="submit">Unsubscribe</button></form>'
)


def _page(title: str, text: str, status: int, *, form: str = "") -> HTMLResponse:
    body = _PAGE.format(title=html.escape(title), text=html.escape(text), form=form)
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _preview_page() -> HTMLResponse:
    return _page(
        "Preview link",
        "This is the placeholder unsubscribe link of a preview or test message; it "
        "unsubscribes nobody. Each real message carries its recipient's own link.",
        404,
    )


def _unsubscribed_page() -> HTMLResponse:
    return _page("You are unsubscribed", "You will not receive these emails any more.", 200)


def _unknown_page() -> HTMLResponse:
    return _page("Link not found", "This unsubscribe link is not valid.", 404)


@router.get(
    "/u/{token}",
    response_class=HTMLResponse,
    responses=_RESPONSES,
    summary="Unsubscribe page (the link in every message): asks to confirm, changes nothing",
)
def unsubscribe_link(token: str, session: DbSession) -> HTMLResponse:
    if token == PREVIEW_UNSUBSCRIBE_TOKEN:
        return _preview_page()
    status = contacts.email_status_by_unsubscribe_token(session=session, token=token)
    if status is None:
        return _unknown_page()
    if status == "unsubscribed":
        return _unsubscribed_page()
    return _page(
        "Unsubscribe",
        "Stop receiving these emails at this address?",
        200,
        form=_CONFIRM_FORM,
    )


@router.post(
    "/u/{token}",
    response_class=HTMLResponse,
    responses=_RESPONSES,
    summary="Unsubscribe: the page's button, and RFC 8058 one-click (List-Unsubscribe-Post)",
)
def unsubscribe_one_click(token: str, session: DbSession) -> HTMLResponse:
    if token == PREVIEW_UNSUBSCRIBE_TOKEN:
        return _preview_page()
    if not contacts.unsubscribe(session=session, token=token):
        return _unknown_page()
    return _unsubscribed_page()
