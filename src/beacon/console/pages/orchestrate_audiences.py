"""Orchestrate → Audiences: the account's audience segments with their reach (the latest
reach evaluation, ``segments.reach_out``, as ``GET /public/v1/segments``) and the contacts
reachable now per channel, and a one-rule form over a contact field or attribute
(``segments.create_segment``: the API's rule checks; the new segment's reach is evaluated in
the background and the list reloads itself until it is known)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from beacon.console import web
from beacon.console.pages import NavItem
from beacon.console.pages import _forms as forms
from beacon.core.deps import AppSettings, DbSession
from beacon.core.errors import ValidationFailed
from beacon.core.permissions import Action, require
from beacon.messaging import segments
from beacon.messaging.audience_schemas import SegmentCreate

router = APIRouter(prefix="/orchestrate/audiences")
NAV = (NavItem("Orchestrate", "Audiences", web.PREFIX + "/orchestrate/audiences", order=7),)
FIELDS = (
    "email",
    "phone",
    "firstName",
    "lastName",
    "externalId",
    "address.country",
    "address.city",
    "subscriptions.email",
    "subscriptions.sms",
)
OPERATORS = ("equals", "contains", "in", "exists", "gt", "gte", "lt", "lte")
LABELS = {"name": "a name"}


def _rows(session: DbSession, account_id: int, max_age: int) -> list[dict[str, Any]]:
    found, _ = segments.list_segments(session=session, account_id=account_id, limit=200, offset=0)
    return [
        {
            "s": segments.segment_out(session=session, segment=s, max_age_seconds=max_age),
            "channels": segments.reachable_by_channel(session=session, segment=s),
        }
        for s in found
    ]


def _page(
    request: Request,
    viewer: web.Viewer,
    session: DbSession,
    settings: AppSettings,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    rows = _rows(session, viewer.member.account_id, settings.messaging_reach_max_age_seconds)
    context = {
        "rows": rows,
        "pending": any(r["s"].reach.status == "pending" for r in rows),
        "fields": FIELDS,
        "operators": OPERATORS,
        "errors": errors or {},
        "values": values or {},
    }
    if request.headers.get("hx-request") == "true":
        return web.render(request, "orchestrate/_audiences_table.html", context, viewer=viewer)
    return web.render(request, "orchestrate/audiences.html", context, viewer=viewer, status=status)


@router.get("")
def list_page(
    request: Request, viewer: web.CurrentViewer, session: DbSession, settings: AppSettings
) -> Response:
    return _page(request, viewer, session, settings)


def _value(op: str, raw: str) -> Any:
    """The typed rule value: a list for ``in``, a number when it reads as one, else text."""
    if op == "exists":
        return True
    if op == "in":
        return [v.strip() for v in raw.split(",") if v.strip()]
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw)
    except ValueError:
        return raw


@router.post("")
def create(
    request: Request,
    viewer: web.CurrentViewer,
    session: DbSession,
    settings: AppSettings,
    form: forms.PostedForm,
) -> Response:
    """A segment of one rule: field (or ``attributes.<key>``), operator and value."""
    require(viewer.member.role, Action.manage_campaigns)
    values = {k: forms.text(form, k) for k in ("name", "field", "attribute", "op", "value")}
    field = (
        f"attributes.{values['attribute']}" if values["field"] == "attribute" else values["field"]
    )
    value = _value(values["op"], values["value"])
    # contact fields other than attributes compare text
    if (
        not field.startswith("attributes.")
        and not isinstance(value, list)
        and values["op"] != "exists"
    ):
        value = values["value"]
    rules = {"field": field, "op": values["op"], "value": value}
    try:
        segments.create_segment(
            session=session,
            account_id=viewer.member.account_id,
            data=SegmentCreate.model_validate({"name": values["name"], "rules": rules}),
            role=viewer.member.role,
        )
    except ValidationError as exc:
        errors = web.form_errors(exc, LABELS)
        return _page(request, viewer, session, settings, errors=errors, values=values, status=422)
    except ValidationFailed as exc:
        session.rollback()
        errors = {"value": exc.message}
        return _page(request, viewer, session, settings, errors=errors, values=values, status=422)
    return web.redirect(f"{web.PREFIX}/orchestrate/audiences")
