"""Understand → Inventory: upload URLs (pasted or a CSV file), watch them classify (htmx polls
the list while URLs are pending), filter by status, domain and category, re-classify one URL.
The same services as ``/v1/clsfy/inventory`` and ``/v1/clsfy/classify``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from beacon.activation.inventory import service as inventory
from beacon.console import idn, web
from beacon.console.pages import NavItem
from beacon.console.pages import _forms as forms
from beacon.contextual import service as contextual_service
from beacon.contextual import taxonomy
from beacon.core.db import Database
from beacon.core.deps import AppSettings, DbSession, get_database
from beacon.core.errors import APIError, InvalidValue
from beacon.core.paging import MAX_OFFSET
from beacon.core.permissions import Action, require

router = APIRouter(prefix="/understand/inventory")
NAV = (NavItem("Understand", "Inventory", web.PREFIX + "/understand/inventory", order=20),)
PAGE_SIZE = 50
STATUSES = (("ok", "Classified"), ("pending", "Pending"), ("error", "Error"))
MAX_UPLOAD_BYTES = 5 * 1024 * 1024


def _filters(params: Mapping[str, str]) -> dict[str, str]:
    """The list's filters as the page shows them (a domain in its Unicode form, however typed)."""
    values = {name: params.get(name, "").strip()[:255] for name in ("status", "domain", "category")}
    if values["status"] not in ("", "ok", "pending", "error"):
        values["status"] = ""
    if values["category"] and values["category"] not in taxonomy.categories():
        values["category"] = ""
    if values["domain"]:
        values["domain"] = idn.unicode_domain(idn.ascii_domain(values["domain"]))
    return values


def _back_query(back: str) -> str:
    """The filters and page a re-classify form was posted from, checked as the page checks its
    own query (so the redirect carries nothing else)."""
    params = dict(parse_qsl(back[:2048]))
    filters = {k: v for k, v in _filters(params).items() if v}
    offset = web.whole_number(params.get("offset", "")) or 0
    return urlencode({**filters, **({"offset": min(offset, MAX_OFFSET)} if offset else {})})


@router.get("")
def inventory_page(request: Request, viewer: web.CurrentViewer, session: DbSession) -> Response:
    account_id = viewer.member.account_id
    filters = _filters(request.query_params)
    offset = web.offset_param(request)
    browsed = inventory.browse_inventory(
        session=session,
        account_id=account_id,
        status=filters["status"] or None,
        domain=idn.ascii_domain(filters["domain"]) or None,  # stored in the ASCII form
        category=filters["category"] or None,
        limit=PAGE_SIZE,
        offset=offset,
    )
    query = urlencode({k: v for k, v in filters.items() if v})
    context: dict[str, Any] = {
        "browsed": browsed,
        "filters": filters,
        "query": query,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "statuses": STATUSES,
        "domains": inventory.inventory_domains(session=session, account_id=account_id),
        "categories": list(taxonomy.categories().values()),
        "progress": _progress(browsed.counts),
        "notice": web.notice_of(request, viewer),
        "errors": {},
        "pasted": "",
    }
    if request.headers.get("hx-request") == "true":
        return web.render(request, "understand/_inventory_live.html", context, viewer=viewer)
    return web.render(request, "understand/inventory.html", context, viewer=viewer)


def _progress(counts: dict[str, int]) -> dict[str, int]:
    total = sum(counts.values())
    done = counts.get("ok", 0) + counts.get("error", 0)
    return {
        "total": total,
        "done": done,
        "ok": counts.get("ok", 0),
        "error": counts.get("error", 0),
        "pending": total - done,
    }


@router.post("")
def upload(
    request: Request,
    viewer: web.CurrentViewer,
    session: DbSession,
    settings: AppSettings,
    form: forms.PostedForm,
) -> Response:
    require(viewer.member.role, Action.classify)
    urls = forms.text(form, "urls")
    body = urls.encode()
    chosen = forms.upload(form, "file", MAX_UPLOAD_BYTES)
    if chosen is not None and urls:
        # Only one of them would be read: say so rather than drop the pasted URLs unseen.
        message = "Paste URLs or choose a CSV file, not both: nothing was added"
        return _upload_error(request, viewer, session, message, urls)
    if chosen is not None:
        body = chosen[1]
        if len(body) > MAX_UPLOAD_BYTES:
            return _upload_error(request, viewer, session, "The file is larger than 5 MB", urls)
    if not body.strip():
        return _upload_error(request, viewer, session, "Paste URLs or choose a CSV file", urls)
    try:
        labelled = inventory.parse_text_upload(body)
        added = inventory.add_urls(
            session=session,
            account_id=viewer.member.account_id,
            labelled_urls=labelled,
            role=viewer.member.role,
            allow_private=settings.fetch_allow_private_networks,
        )
    except APIError as exc:
        if exc.status == 403:
            raise
        message = exc.problem if isinstance(exc, InvalidValue) else exc.message
        return _upload_error(request, viewer, session, message[:1:].upper() + message[1:], urls)
    notice = (
        f"{added.received} URLs received: {added.added} new to the inventory, "
        f"{added.queued} queued for classification."
    )
    return web.redirect(f"{web.PREFIX}/understand/inventory?{web.notice_query(viewer, notice)}")


def _upload_error(
    request: Request, viewer: web.Viewer, session: Any, message: str, pasted: str
) -> Response:
    account_id = viewer.member.account_id
    browsed = inventory.browse_inventory(
        session=session, account_id=account_id, limit=PAGE_SIZE, offset=0
    )
    filters = {"status": "", "domain": "", "category": ""}
    return web.render(
        request,
        "understand/inventory.html",
        {
            "browsed": browsed,
            "filters": filters,
            "query": "",
            "offset": 0,
            "page_size": PAGE_SIZE,
            "statuses": STATUSES,
            "domains": inventory.inventory_domains(session=session, account_id=account_id),
            "categories": list(taxonomy.categories().values()),
            "progress": _progress(browsed.counts),
            "notice": "",
            "errors": {"urls": message},
            "pasted": pasted,
        },
        viewer=viewer,
        status=422,
    )


@router.post("/reclassify")
def reclassify(
    request: Request,
    viewer: web.CurrentViewer,
    settings: AppSettings,
    db: Annotated[Database, Depends(get_database)],
    url: Annotated[str, Form()],
    back: Annotated[str, Form()] = "",
) -> Response:
    """Fetch and classify one inventory URL now, whatever the store holds."""
    require(viewer.member.role, Action.classify)
    with db.transaction() as session:
        normalized = inventory.get_inventory_url(
            session=session, account_id=viewer.member.account_id, url=url
        )
    outcome = contextual_service.classify_url(
        db=db,
        settings=settings,
        url=normalized,
        role=viewer.member.role,
        refresh=True,
        stored_as=normalized,  # the row the inventory shows, under an older key too
    )
    failure = outcome.error or outcome.refresh_error  # the older result, if any, is kept
    shown = idn.unicode_url(outcome.url)
    notice = (
        f"Re-classified {shown}"
        if failure is None
        else f"{shown} could not be classified: {failure}"
    )
    query = _back_query(back)
    separator = "&" if query else ""
    return web.redirect(
        f"{web.PREFIX}/understand/inventory?{query}{separator}{web.notice_query(viewer, notice)}"
    )
