"""Activate → Deliveries: upload a delivery CSV, see its first rows and every row's problem
before anything is stored (``deliveries.check_rows``), then confirm to store the batch
(``deliveries.ingest``, as ``POST /v1/clsfy/deliveries``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from beacon.activation.reports import deliveries
from beacon.console import web
from beacon.console.pages import NavItem
from beacon.console.pages import _forms as forms
from beacon.core.deps import DbSession
from beacon.core.errors import APIError
from beacon.core.permissions import Action, require

router = APIRouter(prefix="/activate/deliveries")
NAV = (NavItem("Activate", "Deliveries", web.PREFIX + "/activate/deliveries", order=30),)
PREVIEW_ROWS = 20
MAX_UPLOAD_BYTES = 10 * 1024 * 1024


def _page(
    request: Request, viewer: web.Viewer, context: dict[str, Any], status: int = 200
) -> Response:
    page = {
        "errors": {},
        "checked": None,
        "csv_text": "",
        "batch_id": "",
        "notice": "",
        "columns": deliveries.COLUMNS,
        **context,
    }
    return web.render(request, "activate/deliveries.html", page, viewer=viewer, status=status)


@router.get("")
def upload_form(request: Request, viewer: web.CurrentViewer) -> Response:
    return _page(request, viewer, {"notice": web.notice_of(request, viewer)})


@router.post("/preview")
def preview(
    request: Request, viewer: web.CurrentViewer, session: DbSession, form: forms.PostedForm
) -> Response:
    """The upload's first rows and each bad row's reason; nothing is stored."""
    require(viewer.member.role, Action.run_reports)
    chosen = forms.upload(form, "file", MAX_UPLOAD_BYTES)
    filename, body = chosen if chosen is not None else ("", b"")
    batch_id = forms.text(form, "batch_id")
    if not body.strip():
        return _page(request, viewer, {"errors": {"file": "Choose a CSV file"}}, 422)
    if len(body) > MAX_UPLOAD_BYTES:
        return _page(request, viewer, {"errors": {"file": "The file is larger than 10 MB"}}, 422)
    try:
        text = deliveries.decode_csv(body)
        rows = deliveries.rows_from_csv(text)
    except APIError as exc:
        return _page(request, viewer, {"errors": {"file": exc.message}}, 422)
    checked = deliveries.check_rows(session=session, account_id=viewer.member.account_id, rows=rows)
    bad = [c for c in checked if c.problem]
    return _page(
        request,
        viewer,
        {
            "checked": {
                "total": len(checked),
                "first": checked[:PREVIEW_ROWS],
                "bad": bad,
                "filename": filename,
            },
            "csv_text": text if not bad else "",
            "batch_id": batch_id.strip()[:100],
        },
        422 if bad else 200,
    )


@router.post("")
def store(
    request: Request,
    viewer: web.CurrentViewer,
    session: DbSession,
    form: forms.PostedForm,
) -> Response:
    """Store the previewed batch (the same all-or-nothing ingestion as the API)."""
    # The checked file comes back as a field: read through the console's form, bounded by the
    # body limit, not FastAPI's Form() (Starlette's 1 MB a field refused a file the check took).
    posted = form.get("csv_text", "")
    csv_text = posted if isinstance(posted, str) else ""  # as posted: its hash names the batch
    batch_id = forms.text(form, "batch_id")
    try:
        rows = deliveries.rows_from_csv(csv_text)
        receipt = deliveries.ingest(
            session=session,
            account_id=viewer.member.account_id,
            batch_id=batch_id.strip()[:100] or deliveries.file_batch_id(csv_text),
            rows=rows,
            role=viewer.member.role,
        )
    except APIError as exc:
        if exc.status == 403:
            raise
        return _page(request, viewer, {"errors": {"file": exc.message}}, 422)
    notice = (
        f"Batch {receipt.batch_id} stored: {web.counted(receipt.rows, 'row')}, "
        f"{web.counted(receipt.impressions, 'impression')}, {web.counted(receipt.clicks, 'click')}, "
        f"{receipt.spend:,.2f} spend"
        + (
            f" (replaced {web.counted(receipt.replaced_rows, 'row')})"
            if receipt.replaced_rows
            else ""
        )
    )
    return web.redirect(f"{web.PREFIX}/activate/deliveries?{web.notice_query(viewer, notice)}")
