"""Orchestrate → Contacts: search the account's contacts, one contact's subscriptions per
channel and attributes, unsubscribe/resubscribe, and a CSV import that shows the rows it
rejected (``contacts.import_csv_rows``: the API import's checks, row by row) after a column-mapping
step (each CSV column → a contact field, an attribute or ignored, guessed from the header), and
a download of the rejected rows with their reasons."""

from __future__ import annotations

import re
import uuid
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from beacon.console import web
from beacon.console.pages import NavItem
from beacon.console.pages import _forms as forms
from beacon.core.deps import DbSession
from beacon.core.errors import BadRequest, Conflict, ValidationFailed
from beacon.core.permissions import Action, require
from beacon.messaging.audience_schemas import MAX_CONTACTS
from beacon.messaging.audiences import contacts

router = APIRouter(prefix="/orchestrate/contacts")
NAV = (NavItem("Orchestrate", "Contacts", web.PREFIX + "/orchestrate/contacts", order=20),)
ContactId = Annotated[uuid.UUID, Path(description="The contact ID")]
PAGE = 50
CSV_LIMIT = 5 * 1024 * 1024
CHANNELS = (("email", "Email"), ("sms", "SMS"), ("direct_mail", "Direct mail"))
PREVIEW_ROWS = 5
REJECTS_SHOWN = 100
# The import's step 2 says which separator it read when it is not a comma.
SEPARATORS = {";": "semicolons", "\t": "tabs"}
ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
FIELD_LABELS = {
    "email": "Email",
    "phone": "Phone",
    "firstName": "First name",
    "lastName": "Last name",
    "externalId": "External ID",
    "address.line1": "Address line 1",
    "address.line2": "Address line 2",
    "address.city": "City",
    "address.region": "Region",
    "address.postalCode": "Postal code",
    "address.country": "Country (2 letters)",
    "subscriptions.email": "Email subscription",
    "subscriptions.sms": "SMS subscription",
    "subscriptions.direct_mail": "Direct mail subscription",
    "attribute": "An attribute…",
    "ignore": "Ignore this column",
}


def _list(
    request: Request,
    viewer: web.Viewer,
    session: DbSession,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    search = request.query_params.get("q", "").strip()[:200]
    offset = web.offset_param(request)
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
    }
    return web.render(request, "orchestrate/contacts.html", context, viewer=viewer, status=status)


@router.get("")
def list_page(request: Request, viewer: web.CurrentViewer, session: DbSession) -> Response:
    return _list(request, viewer, session)


def _decode(raw: bytes) -> str:
    if len(raw) > CSV_LIMIT:
        raise BadRequest("The CSV is larger than 5 MB")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("The CSV is not UTF-8 text") from None


def _default_mapping(header: list[str]) -> dict[str, str]:
    """The form values of the mapping step guessed from the header names."""
    values: dict[str, str] = {}
    for index, name in enumerate(header):
        guess = contacts.guess_column(name)
        if guess is None:
            values[f"map-{index}"] = "ignore"
        elif guess.startswith("attributes."):
            values[f"map-{index}"] = "attribute"
            values[f"attr-{index}"] = guess[11:]
        else:
            values[f"map-{index}"] = guess
    return values


def _columns(values: dict[str, str], width: int) -> tuple[list[str | None], dict[str, str]]:
    """The contact field each CSV position fills (None: ignored) and the mapping's errors."""
    columns: list[str | None] = []
    errors: dict[str, str] = {}
    for index in range(width):
        target = values.get(f"map-{index}", "ignore")
        if target == "attribute":
            key = values.get(f"attr-{index}", "")
            if not ATTRIBUTE_KEY.match(key):
                errors[f"attr-{index}"] = (
                    f"Column {index + 1}: an attribute key is 1 to 64 letters, digits, _ or -"
                )
            columns.append(f"attributes.{key}")
        elif target in contacts.CSV_FIELDS:
            columns.append(target)
        else:
            columns.append(None)
    if not errors:
        try:
            contacts.check_columns(columns)
        except BadRequest as exc:
            errors["map-0"] = exc.message
    return columns, errors


def _import_page(
    request: Request,
    viewer: web.Viewer,
    *,
    text: str,
    filename: str,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    result: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    delimiter = contacts.csv_delimiter(text)
    header, first, total = contacts.preview_csv(text, rows=PREVIEW_ROWS, delimiter=delimiter)
    context = {
        "separator": SEPARATORS.get(delimiter, ""),
        "filename": filename,
        "csv_text": text,
        "header": header,
        "first": first,
        "total": total,
        "values": values,
        "errors": errors or {},
        "fields": FIELD_LABELS,
        "result": result,
    }
    if request.headers.get("hx-request") == "true":
        # htmx swaps only 2xx answers: the step's errors come back as a 200 fragment
        return web.render(request, "orchestrate/_contacts_import_step.html", context, viewer=viewer)
    return web.render(
        request, "orchestrate/contacts_import.html", context, viewer=viewer, status=status
    )


@router.post("/import/map")
def map_columns(
    request: Request, viewer: web.CurrentViewer, session: DbSession, form: forms.PostedForm
) -> Response:
    """Step 2 of an import: the chosen CSV's first rows and a contact field for each column,
    guessed from its header."""
    require(viewer.member.role, Action.manage_campaigns)
    chosen = forms.upload(form, "file", CSV_LIMIT)
    if chosen is None:
        return _list(request, viewer, session, errors={"file": "Choose a CSV file"}, status=422)
    filename, raw = chosen
    try:
        text = _decode(raw)
        delimiter = contacts.csv_delimiter(text)
        header, _, total = contacts.preview_csv(text, rows=PREVIEW_ROWS, delimiter=delimiter)
        if total > MAX_CONTACTS:
            raise BadRequest(f"The CSV has {total:,} rows; import at most {MAX_CONTACTS:,} at once")
    except BadRequest as exc:
        return _list(request, viewer, session, errors={"file": exc.message}, status=422)
    values = _default_mapping(header)
    return _import_page(request, viewer, text=text, filename=filename[:200], values=values)


def _mapped(form: Any) -> tuple[str, str, dict[str, str], list[str | None], dict[str, str]]:
    """The posted CSV text, file name, mapping form values, columns and mapping errors (the
    separator is detected again from the same text at each step)."""
    text = form.get("csv_text", "")
    text = text if isinstance(text, str) else ""
    if len(text) > CSV_LIMIT:
        raise BadRequest("The CSV is larger than 5 MB")
    header, _, _ = contacts.preview_csv(text, rows=0, delimiter=contacts.csv_delimiter(text))
    values = {
        key: forms.text(form, key)
        for index in range(len(header))
        for key in (f"map-{index}", f"attr-{index}")
    }
    columns, errors = _columns(values, len(header))
    return text, forms.text(form, "filename")[:200], values, columns, errors


@router.post("/import")
def import_csv(
    request: Request, viewer: web.CurrentViewer, session: DbSession, form: forms.PostedForm
) -> Response:
    """Step 3: import the valid rows with the chosen mapping; the page shows the result and
    offers the rejected rows as a CSV."""
    require(viewer.member.role, Action.manage_campaigns)
    try:
        text, filename, values, columns, errors = _mapped(form)
    except BadRequest as exc:
        return _list(request, viewer, session, errors={"file": exc.message}, status=422)
    page = partial(_import_page, request, viewer, text=text, filename=filename, values=values)
    if errors:
        return page(errors=errors, status=422)
    try:
        imported, rejects = contacts.import_csv_rows(
            session=session,
            account_id=viewer.member.account_id,
            text=text,
            columns=columns,
            role=viewer.member.role,
            delimiter=contacts.csv_delimiter(text),
        )
    except (BadRequest, ValidationFailed, Conflict) as exc:
        session.rollback()
        return page(errors={"map-0": exc.message}, status=422)
    result = {
        "imported": imported,
        "rejects": rejects[:REJECTS_SHOWN],
        "rejected": len(rejects),
        "accepted": (imported.created + imported.updated) if imported else 0,
    }
    return page(result=result)


@router.post("/import/rejects")
def download_rejects(viewer: web.CurrentViewer, form: forms.PostedForm) -> Response:
    """The rejected rows of the mapped CSV with their reasons, as a CSV file (nothing is
    stored: the same checks as the import, run again on the same file and mapping)."""
    require(viewer.member.role, Action.manage_campaigns)
    text, filename, _, columns, errors = _mapped(form)
    if errors:
        raise BadRequest(next(iter(errors.values())))
    delimiter = contacts.csv_delimiter(text)
    header, _, _ = contacts.preview_csv(text, rows=0, delimiter=delimiter)
    _, rejects = contacts.check_csv_rows(text, columns=columns, delimiter=delimiter)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", filename.rsplit(".", 1)[0]).strip("-") or "contacts"
    return web.with_headers(
        Response(
            contacts.rejects_csv(header, rejects),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{stem}-rejected.csv"'},
        )
    )


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
