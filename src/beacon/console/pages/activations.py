"""Activate → Activations: activate complete segments on a DSP (the seed 003 request with its
validation shown at the fields), watch the activation go pending → complete (htmx polls) and
copy the deal id; see when the deal expires. The same services as ``/v1/clsfy/activations``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from beacon.activation.deals import service as activations
from beacon.activation.schemas import ActivationCreate
from beacon.activation.segments import service as segments
from beacon.console import web
from beacon.console.pages import NavItem
from beacon.console.pages import _forms as forms
from beacon.core.deps import DbSession, wake_worker
from beacon.core.dsps import SUPPORTED_DSPS
from beacon.core.errors import ValidationFailed
from beacon.core.ids import id_path
from beacon.core.jobs import COMPLETE
from beacon.core.permissions import Action, require
from beacon.people import form_nonces

if TYPE_CHECKING:  # what the services return
    from beacon.activation.models import Activation

router = APIRouter(prefix="/activate/activations")
NAV = (NavItem("Activate", "Activations", web.PREFIX + "/activate/activations", order=20),)
ActivationId = Annotated[int, id_path("The activation ID")]
STALE_FORM = "This form was out of date: nothing was activated. Activate again from this page."
FORMATS = ("banner", "video", "native", "ctv", "audio")
DEVICES = ("desktop", "mobile", "tablet", "ctv")
KPI_METRICS = ("ctr", "conversion", "viewability", "vcr", "cpa", "roas")
KPI_ROWS = 3
LABELS = {
    "segment_ids": "at least one segment",
    "dsp": "a DSP",
    "buyer_seat": "the buyer seat",
    "start_date": "the start date",
    "end_date": "the end date",
    "geo": "countries",
    "formats": "formats",
    "devices": "devices",
    "kpis": "KPIs",
    "budget": "the budget",
}


@router.get("")
def list_page(request: Request, viewer: web.CurrentViewer, session: DbSession) -> Response:
    found = activations.list_activations(session=session, account_id=viewer.member.account_id)
    items = [activations.activation_out(a) for a in reversed(found)]
    return web.render(request, "activate/activations.html", {"items": items}, viewer=viewer)


def _segments(session: Any, account_id: int) -> list[Any]:
    return list(segments.list_segments(session=session, account_id=account_id))


@router.get("/new")
def new_form(request: Request, viewer: web.CurrentViewer, session: DbSession) -> Response:
    require(viewer.member.role, Action.manage_campaigns)
    values: dict[str, Any] = {
        "segment_ids": [request.query_params.get("segment_id", "")],
        "dsp": "",
        "buyer_seat": "",
        "start_date": "",
        "end_date": "",
        "geo": "",
        "formats": [],
        "devices": [],
        "kpis": [{"metric": "", "target": ""} for _ in range(KPI_ROWS)],
        "budget_amount": "",
        "budget_currency": "USD",
    }
    return _form(request, viewer, session, values, {})


def _form(
    request: Request,
    viewer: web.Viewer,
    session: Any,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    return web.render(
        request,
        "activate/activation_form.html",
        {
            "values": values,
            "errors": errors,
            "segments": _segments(session, viewer.member.account_id),
            "dsps": SUPPORTED_DSPS,
            "formats": FORMATS,
            "devices": DEVICES,
            "kpi_metrics": KPI_METRICS,
            "form_nonce": form_nonces.new(),
        },
        viewer=viewer,
        status=status,
    )


def _form_values(form: FormData) -> dict[str, Any]:
    def text(name: str) -> str:
        return forms.text(form, name)

    return {
        "segment_ids": forms.texts(form, "segment_ids"),
        "dsp": text("dsp"),
        "buyer_seat": text("buyer_seat"),
        "start_date": text("start_date"),
        "end_date": text("end_date"),
        "geo": text("geo"),
        "formats": forms.texts(form, "formats"),
        "devices": forms.texts(form, "devices"),
        "kpis": [
            {"metric": text(f"kpi_metric_{i}"), "target": text(f"kpi_target_{i}")}
            for i in range(KPI_ROWS)
        ],
        "budget_amount": text("budget_amount"),
        "budget_currency": text("budget_currency").upper(),
    }


def _number(value: str) -> float | str:
    try:
        return float(value.replace(",", ""))
    except ValueError:
        return value


def _request(values: dict[str, Any]) -> dict[str, Any]:
    """The seed's request body from the form (blank fields left out, as the API allows)."""
    body: dict[str, Any] = {
        "segment_ids": [_id_or_text(v) for v in values["segment_ids"] if v],
        "dsp": values["dsp"],
        "buyer_seat": values["buyer_seat"],
    }
    for name in ("start_date", "end_date"):
        if values[name]:
            body[name] = values[name]
    geo = [c.strip() for c in values["geo"].split(",") if c.strip()]
    if geo:
        body["geo"] = geo
    for name in ("formats", "devices"):
        if values[name]:
            body[name] = values[name]
    kpis = [
        {"metric": k["metric"], "target": _number(k["target"])}
        for k in values["kpis"]
        if k["metric"] or k["target"]
    ]
    if kpis:
        body["kpis"] = kpis
    if values["budget_amount"]:
        body["budget"] = {
            "amount": _number(values["budget_amount"]),
            "currency": values["budget_currency"],
        }
    return body


@router.post("")
def create(
    request: Request,
    viewer: web.CurrentViewer,
    session: DbSession,
    background: BackgroundTasks,
    form: forms.PostedForm,
) -> Response:
    values = _form_values(form)
    nonce = str(form.get("form_nonce") or "")

    def create_activation() -> tuple[Activation, bool]:
        data = ActivationCreate.model_validate(_request(values))
        return activations.create_activation(
            session=session, account_id=viewer.member.account_id, data=data, role=viewer.member.role
        )

    try:
        # The page's form acts once (a double click, a reload, the back button): a second post
        # of it goes to the activation the first made, not to a second deal on the DSP.
        made = forms.once(
            session=session,
            viewer=viewer,
            nonce=nonce,
            create=create_activation,
            describe=_made_id,
        )
    except ValidationError as exc:
        errors = web.form_errors(exc, LABELS)
        return _form(request, viewer, session, values, errors, status=422)
    except ValidationFailed as exc:
        errors = web.service_error(exc, "segment_ids")
        return _form(request, viewer, session, values, errors, status=422)
    if isinstance(made, form_nonces.NotCreated):
        if not made.earlier:
            return _form(request, viewer, session, values, {"form": STALE_FORM}, status=422)
        return web.redirect(f"{web.PREFIX}/activate/activations/{made.earlier}?existing=1")
    activation, created = made
    background.add_task(wake_worker, request)
    # an identical request still pending is that activation: the page says so
    suffix = "" if created else "?existing=1"
    return web.redirect(f"{web.PREFIX}/activate/activations/{activation.id}{suffix}")


def _made_id(made: tuple[Activation, bool]) -> str:
    return str(made[0].id)


def _detail(session: Any, viewer: web.Viewer, activation_id: int) -> dict[str, Any]:
    account_id = viewer.member.account_id
    activation = activations.get_activation(
        session=session, account_id=account_id, activation_id=activation_id
    )
    out = activations.activation_out(activation)
    names = {s.id: s.name for s in _segments(session, account_id)}
    return {"a": out, "segment_names": names, "done": out.status in (COMPLETE, "failed")}


@router.get("/{activation_id}")
def detail(
    request: Request, activation_id: ActivationId, viewer: web.CurrentViewer, session: DbSession
) -> Response:
    context = _detail(session, viewer, activation_id)
    context["existing"] = request.query_params.get("existing") == "1"
    template = (
        "activate/_activation_status.html"
        if request.headers.get("hx-request") == "true"
        else "activate/activation.html"
    )
    return web.render(request, template, context, viewer=viewer)


def _id_or_text(value: str) -> int | str:
    # a value that is not a whole number goes to validation as it is: a form error naming it
    number = web.whole_number(value)
    return value if number is None else number
