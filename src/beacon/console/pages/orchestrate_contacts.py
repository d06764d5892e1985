"""Orchestrate → Contacts: search the account's contacts, one contact's subscriptions per
channel and attributes, unsubscribe/resubscribe, and a CSV import that shows the rows it
rejected (``contacts.import_csv_rows``: the API import's columns and checks, row by row)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from beacon.console import web
from beacon.console.pages import NavItem
from beacon.console.pages import _forms as forms
from beacon.core.deps import DbSession
from beacon.core.errors import BadRequest, Conflict, ValidationFailed
from beacon.messaging import contacts
from beacon.messaging.audience_schemas import UpsertResult

router = APIRouter(prefix="/orchestrate/contacts")
NAV = (NavItem("Orchestrate", "Contacts", web.PREFIX + "/orchestrate/contacts", order=20),)
ContactId = Annotated[uuid.UUID, Path(description="The contact ID")]
PAGE = 50
CSV_LIMIT = 5 * 1024 * 1024
CHANNELS = (("email", "Email"), ("sms", "SMS"), ("direct_mail", "Direct mail"))


def _list(
    request: Request,
    viewer: web.Viewer,
    session: DbSession,
    *,
    errors: dict[str, str] | None = None,
    imported: UpsertResult | None = None,
    rejects: list[contacts.Reject] | None = None,
    status: int = 200,
) -> Response:
    search = request.query_params.get("q", "").strip()[:200]
    raw = request.query_params.get("offset", "0")
    offset = int(raw) if raw.isdigit() else 0
    items, total = contacts.list_contacts(
        session=session,
        account_id=viewer.member.account_id,
        limit=PAGE,
        offset=offset,
        search=search,
    )
    context = {
        "items": items,
        "total": total,
        "q": search,
        "offset": offset,
        "page_size": PAGE,
        "errors": errors or {},
        "imported": imported,
        "rejects": rejects,
    }
    return web.render(request, "orchestrate/contacts.html", context, viewer=viewer, status=status)


@router.get("")
def list_page(request: Request, viewer: web.CurrentViewer, session: DbSession) -> Response:
    return _list(request, viewer, session)


@router.post("/import")
def import_csv(
    request: Request, viewer: web.CurrentViewer, session: DbSession, form: forms.PostedForm
) -> Response:
    """Import the chosen CSV's valid rows; the page lists the rejected ones."""
    chosen = forms.upload(form, "file", CSV_LIMIT)
    if chosen is None:
        return _list(request, viewer, session, errors={"file": "Choose a CSV file"}, status=422)
    _, raw = chosen
    if len(raw) > CSV_LIMIT:
        return _list(
            request, viewer, session, errors={"file": "The CSV is larger than 5 MB"}, status=422
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _list(
            request, viewer, session, errors={"file": "The CSV is not UTF-8 text"}, status=422
        )
    try:
        result, rejects = contacts.import_csv_rows(
            session=session, account_id=viewer.member.account_id, text=text, role=viewer.member.role
        )
    except (BadRequest, ValidationFailed, Conflict) as exc:
        return _list(request, viewer, session, errors={"file": exc.message}, status=422)
    return _list(request, viewer, session, imported=result, rejects=rejects)


@router.get("/{contact_id}")
def detail(
    request: Request, contact_id: ContactId, viewer: web.CurrentViewer, session: DbSession
) -> Response:
    contact = contacts.contact_out(
        contacts.get_contact(
            session=session, account_id=viewer.member.account_id, contact_id=contact_id
        )
    )
    subscriptions = contact.subscriptions.model_dump()
    notice = request.query_params.get("done", "")
    context = {
        "c": contact,
        "channels": [(key, label, subscriptions.get(key)) for key, label in CHANNELS],
        "notice": {"subscribed": "Resubscribed.", "unsubscribed": "Unsubscribed."}.get(notice, ""),
    }
    return web.render(request, "orchestrate/contact.html", context, viewer=viewer)


@router.post("/{contact_id}/subscriptions")
def set_subscription(
    request: Request,
    contact_id: ContactId,
    viewer: web.CurrentViewer,
    session: DbSession,
    form: forms.PostedForm,
) -> Response:
    """Unsubscribe or resubscribe the contact on one channel."""
    status = forms.text(form, "status")
    contacts.set_subscription(
        session=session,
        account_id=viewer.member.account_id,
        contact_id=contact_id,
        channel=forms.text(form, "channel"),
        status=status,
        role=viewer.member.role,
    )
    return web.redirect(f"{web.PREFIX}/orchestrate/contacts/{contact_id}?done={status}")
