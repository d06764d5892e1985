"""Orchestrate → Audiences: the account's audience segments with their reach (the latest
reach evaluation, ``segments.reach_out``, as ``GET /public/v1/segments``) and the contacts
reachable now per channel, and a rule builder: several rules over contact fields and
attributes joined by AND (``all``) or OR (``any``), the rule tree of ``POST
/public/v1/segments``, with the live reach of the unsaved rules (``segments.reach_of_rules``)
updating as they change. Adding and removing a rule are form posts, so the builder works
without JavaScript; htmx swaps the builder in place and refreshes the reach."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from beacon.console import web
from beacon.console.pages import NavItem
from beacon.console.pages import _forms as forms
from beacon.core.deps import AppSettings, DbSession
from beacon.core.errors import ValidationFailed
from beacon.core.permissions import Action, require
from beacon.messaging.audience_schemas import SegmentCreate
from beacon.messaging.audiences import segments
from beacon.people import form_nonces

router = APIRouter(prefix="/orchestrate/audiences")
NAV = (NavItem("Orchestrate", "Audiences", web.PREFIX + "/orchestrate/audiences", order=7),)
FIELDS = (
    "email",
    "phone",
    "firstName",
    "lastName",
    "externalId",
    "address.country",
    "address.region",
    "address.city",
    "address.postalCode",
    "subscriptions.email",
    "subscriptions.sms",
    "subscriptions.direct_mail",
)
OPERATORS = ("equals", "contains", "in", "exists", "gt", "gte", "lt", "lte")
MATCHES = (("all", "All rules (AND)"), ("any", "Any rule (OR)"))
MAX_RULES = 20
PAGE = 50  # segments a page of the list shows, newest first (as Campaigns)
LABELS = {"name": "a name"}


@dataclass(frozen=True)
class RuleRow:
    """One rule of the builder as the form holds it."""

    field: str = "attribute"
    attribute: str = ""
    op: str = "equals"
    value: str = ""


@dataclass(frozen=True)
class Builder:
    """The builder's state: the segment name, AND/OR and its rules."""

    name: str = ""
    match: str = "all"
    rules: tuple[RuleRow, ...] = (RuleRow(),)


def _rows(
    session: DbSession, account_id: int, max_age: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    found, total = segments.list_segments(
        session=session, account_id=account_id, limit=PAGE, offset=offset
    )
    rows = [
        {
            "s": segments.segment_out(session=session, segment=s, max_age_seconds=max_age),
            "channels": segments.reachable_by_channel(session=session, segment=s),
        }
        for s in found
    ]
    return rows, total


def _page(
    request: Request,
    viewer: web.Viewer,
    session: DbSession,
    settings: AppSettings,
    *,
    builder: Builder | None = None,
    errors: dict[str, str] | None = None,
    live: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    offset = web.offset_param(request)
    max_age = settings.messaging_reach_max_age_seconds
    rows, total = _rows(session, viewer.member.account_id, max_age, offset)
    context = {
        "rows": rows,
        "total": total,
        "offset": offset,
        "page_size": PAGE,
        "pending": any(r["s"].reach.status == "pending" for r in rows),
        "fields": FIELDS,
        "operators": OPERATORS,
        "matches": MATCHES,
        "builder": builder or Builder(),
        "max_rules": MAX_RULES,
        "errors": errors or {},
        "form_nonce": form_nonces.new(),
        **(live or {"reach": None, "problem": ""}),
    }
    if request.headers.get("hx-request") == "true" and builder is None:
        return web.render(request, "orchestrate/_audiences_table.html", context, viewer=viewer)
    return web.render(request, "orchestrate/audiences.html", context, viewer=viewer, status=status)


@router.get("")
def list_page(
    request: Request, viewer: web.CurrentViewer, session: DbSession, settings: AppSettings
) -> Response:
    return _page(request, viewer, session, settings)


def _builder(form: FormData) -> Builder:
    """The builder as posted (the repeated rule-* fields, in order)."""
    columns = [forms.texts(form, f"rule-{part}") for part in ("field", "attribute", "op", "value")]
    rules = tuple(
        RuleRow(*(column[i].strip() if i < len(column) else "" for column in columns))
        for i in range(min(len(columns[0]), MAX_RULES))
    )
    match = forms.text(form, "match")
    return Builder(
        name=forms.text(form, "name"),
        match=match if match in ("all", "any") else "all",
        rules=rules or (RuleRow(),),
    )


def _value(op: str, raw: str, *, typed: bool) -> Any:
    """The rule value: a list for ``in``; for an attribute, a number when it reads as one."""
    if op == "exists":
        return True
    if op == "in":
        return [_value("equals", v.strip(), typed=typed) for v in raw.split(",") if v.strip()]
    if typed:
        for kind in (int, float):
            try:
                number = kind(raw)
            except ValueError:  # not a number, or an int of more than 4,300 digits
                continue
            try:
                if math.isfinite(number):  # 'nan', 'inf' and '1e999' stay the text typed
                    return number
            except OverflowError:  # so does a whole number beyond a double's (309 digits up)
                pass
    return raw


def _rule(row: RuleRow, number: int) -> dict[str, Any]:
    """One rule as the API's rule tree holds it; ValidationFailed names the incomplete row."""
    is_attribute = row.field == "attribute"
    if is_attribute and not row.attribute:
        raise ValidationFailed(f"Rule {number}: enter the attribute key")
    if row.op not in ("exists",) and not row.value:
        raise ValidationFailed(f"Rule {number}: enter a value")
    field = f"attributes.{row.attribute}" if is_attribute else row.field
    return {"field": field, "op": row.op, "value": _value(row.op, row.value, typed=is_attribute)}


def rules_of(builder: Builder) -> dict[str, Any]:
    """The builder's rule tree: ``{"all": [...]}`` or ``{"any": [...]}``."""
    return {builder.match: [_rule(row, i) for i, row in enumerate(builder.rules, start=1)]}


def _with_rule_numbers(message: str) -> str:
    """``rules.all[1].value`` in a service message as "rule 2" for people."""
    for match in ("all", "any"):
        for index in range(MAX_RULES):
            for part in ("field", "value", "op"):
                message = message.replace(
                    f"'rules.{match}[{index}].{part}'", f"rule {index + 1} ({part})"
                )
            message = message.replace(f"'rules.{match}[{index}]'", f"rule {index + 1}")
    return message


def _live(session: DbSession, account_id: int, builder: Builder) -> dict[str, Any]:
    """The reach of the builder's rules, or why it cannot be counted yet."""
    try:
        matched, channels = segments.reach_of_rules(
            session=session, account_id=account_id, rules=rules_of(builder)
        )
    except ValidationFailed as exc:
        return {"reach": None, "problem": _with_rule_numbers(exc.message)}
    return {"reach": {"matched": matched, "channels": channels}, "problem": ""}


@router.post("/reach")
def reach(
    request: Request, viewer: web.CurrentViewer, session: DbSession, form: forms.PostedForm
) -> Response:
    """The live reach of the unsaved rules (htmx posts the builder here as it changes)."""
    context = _live(session, viewer.member.account_id, _builder(form))
    return web.render(request, "orchestrate/_audience_reach.html", context, viewer=viewer)


@router.post("")
def create(
    request: Request,
    viewer: web.CurrentViewer,
    session: DbSession,
    settings: AppSettings,
    form: forms.PostedForm,
) -> Response:
    """Add or remove a builder row (``action`` add / remove-<n>), count the rules' reach
    (``count``, the live reach without JavaScript), or save the segment."""
    require(viewer.member.role, Action.manage_campaigns)
    builder = _builder(form)
    action = forms.text(form, "action")
    if action == "add" and len(builder.rules) < MAX_RULES:
        builder = Builder(builder.name, builder.match, (*builder.rules, RuleRow()))
    elif (
        action.startswith("remove-")
        and (drop := web.whole_number(action[7:])) is not None
        and len(builder.rules) > 1
    ):
        rules = tuple(r for i, r in enumerate(builder.rules) if i != drop)
        builder = Builder(builder.name, builder.match, rules)
    if action != "save" and action:
        live = _live(session, viewer.member.account_id, builder) if action == "count" else None
        return _page(request, viewer, session, settings, builder=builder, live=live)
    try:
        # posted again (a double click, the back button): the first post's segment is listed
        made = forms.once(
            session=session,
            viewer=viewer,
            nonce=forms.text(form, "form_nonce"),
            create=lambda: segments.create_segment(
                session=session,
                account_id=viewer.member.account_id,
                data=SegmentCreate.model_validate(
                    {"name": builder.name, "rules": rules_of(builder)}
                ),
                role=viewer.member.role,
            ),
            describe=lambda segment: str(segment.id),
        )
    except ValidationError as exc:
        errors = web.form_errors(exc, LABELS)
        return _page(request, viewer, session, settings, builder=builder, errors=errors, status=422)
    except ValidationFailed as exc:
        session.rollback()
        errors = {"rules": _with_rule_numbers(exc.message)}
        return _page(request, viewer, session, settings, builder=builder, errors=errors, status=422)
    if isinstance(made, form_nonces.NotCreated) and not made.earlier:
        errors = {"form": forms.STALE_FORM}
        return _page(request, viewer, session, settings, builder=builder, errors=errors, status=422)
    return web.redirect(f"{web.PREFIX}/orchestrate/audiences")
