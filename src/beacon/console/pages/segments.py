"""Activate → Segments: a rule builder that shows, before saving, how many inventory URLs the
rules match and a sample (``segments.preview_rules``, the build's own matching loop), then the
build's progress (htmx polls) and the member URLs. The same services as ``/v1/clsfy/segments``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from beacon.activation.schemas import SegmentCreate, SegmentRules
from beacon.activation.segments import service as segments
from beacon.console import web
from beacon.console.pages import NavItem
from beacon.console.pages import _forms as forms
from beacon.contextual import brand_safety, taxonomy
from beacon.core.deps import DbSession, wake_worker
from beacon.core.errors import InvalidValue, ValidationFailed, value_reason
from beacon.core.ids import id_path
from beacon.core.jobs import COMPLETE, FAILED
from beacon.core.permissions import Action, require
from beacon.people import form_nonces

if TYPE_CHECKING:  # what the services return
    from beacon.activation.models import Segment

router = APIRouter(prefix="/activate/segments")
NAV = (NavItem("Activate", "Segments", web.PREFIX + "/activate/segments", order=10),)
SegmentId = Annotated[int, id_path("The segment ID")]
SENTIMENTS = ("positive", "neutral", "negative")
MEMBERS_PAGE = 100
LABELS = {"name": "a name", "description": "the description", "rules": "the rules"}


def _list(text: str) -> list[str] | None:
    items = [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]
    return items or None


def _values(form: FormData | None) -> dict[str, Any]:
    def text(name: str) -> str:
        value = form.get(name, "") if form is not None else ""
        return value.strip() if isinstance(value, str) else ""

    def many(name: str) -> list[str]:
        return [v for v in form.getlist(name) if isinstance(v, str)] if form is not None else []

    return {
        "name": text("name"),
        "description": text("description"),
        "iab_categories": many("iab_categories"),
        "min_confidence": text("min_confidence"),
        "keywords": text("keywords"),
        "entities": text("entities"),
        "sentiment": many("sentiment"),
        "domains": text("domains"),
        "exclude_keywords": text("exclude_keywords"),
        "exclude_domains": text("exclude_domains"),
        "exclude_sentiment": many("exclude_sentiment"),
        "brand_safety_max_risk": text("brand_safety_max_risk"),
    }


def _rules(values: dict[str, Any]) -> dict[str, Any]:
    """The API's rules object from the builder's fields (empty fields left out)."""
    rules: dict[str, Any] = {
        "iab_categories": values["iab_categories"] or None,
        "keywords": _list(values["keywords"]),
        "entities": _list(values["entities"]),
        "sentiment": values["sentiment"] or None,
        "domains": _list(values["domains"]),
    }
    if values["min_confidence"]:
        try:
            rules["min_confidence"] = float(values["min_confidence"])
        except ValueError:
            rules["min_confidence"] = values["min_confidence"]
    exclude = {
        "keywords": _list(values["exclude_keywords"]),
        "domains": _list(values["exclude_domains"]),
        "sentiment": values["exclude_sentiment"] or None,
    }
    exclude = {k: v for k, v in exclude.items() if v is not None}
    if exclude:
        rules["exclude"] = exclude
    if values["brand_safety_max_risk"]:
        rules["brand_safety"] = {"max_risk": values["brand_safety_max_risk"]}
    return {k: v for k, v in rules.items() if v is not None}


def _rule_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = [str(part) for part in error["loc"] if not str(part).isdigit()]
        if loc and loc[0] == "rules":
            loc = loc[1:]
        field = "_".join(loc) or "rules"
        message = value_reason(error)  # the API's words: "must be at most 1.0"
        errors.setdefault(field, f"{field.replace('_', ' ').capitalize()}: {message}")
    return errors


def _limit_errors(exc: ValidationFailed) -> dict[str, str]:
    """A refusal of ``segments.check_rule_limits`` at the builder's field it names (the API's
    words name a JSON path: ``rules.keywords[0]``); any other refusal under the rules."""
    if not isinstance(exc, InvalidValue) or "field" not in exc.details:
        return {"rules": exc.message}
    field = str(exc.details["field"]).replace(".", "_")
    problem = exc.problem  # a domain no page has (``rules.domain_problem``)
    if "limit" in exc.details:  # a list or term over its limit, in the builder's words
        limit = exc.details["limit"]
        problem = (
            f"each at most {limit} characters" if exc.details["per_term"] else f"at most {limit}"
        )
    return {field: f"{field.replace('_', ' ').capitalize()}: {problem}"}


@router.get("")
def list_page(request: Request, viewer: web.CurrentViewer, session: DbSession) -> Response:
    found = segments.list_segments(session=session, account_id=viewer.member.account_id)
    return web.render(
        request, "activate/segments.html", {"items": list(reversed(found))}, viewer=viewer
    )


def _form(
    request: Request,
    viewer: web.Viewer,
    values: dict[str, Any],
    errors: dict[str, str],
    preview: segments.Preview | None = None,
    status: int = 200,
) -> Response:
    return web.render(
        request,
        "activate/segment_form.html",
        {
            "values": values,
            "errors": errors,
            "preview": preview,
            "preview_errors": {},
            "categories": list(taxonomy.categories().values()),
            "sentiments": SENTIMENTS,
            "risk_levels": brand_safety.LEVELS,
            "form_nonce": form_nonces.new(),
        },
        viewer=viewer,
        status=status,
    )


@router.get("/new")
def new_form(request: Request, viewer: web.CurrentViewer) -> Response:
    require(viewer.member.role, Action.classify)
    return _form(request, viewer, _values(None), {})


@router.post("/preview")
def preview(
    request: Request, viewer: web.CurrentViewer, session: DbSession, form: forms.PostedForm
) -> Response:
    """How many inventory URLs the rules match now, and a sample (nothing is stored)."""
    values = _values(form)
    errors: dict[str, str] = {}
    result = None
    try:
        rules = SegmentRules.model_validate(_rules(values))
        result = segments.preview_rules(
            session=session, account_id=viewer.member.account_id, rules=rules
        )
    except ValidationError as exc:
        errors = _rule_errors(exc)
    except ValidationFailed as exc:
        errors = _limit_errors(exc)
    if request.headers.get("hx-request") == "true":
        return web.render(
            request,
            "activate/_segment_preview.html",
            {"preview": result, "preview_errors": errors},
            viewer=viewer,
        )
    return _form(request, viewer, values, errors, preview=result, status=422 if errors else 200)


@router.post("")
def create(
    request: Request,
    viewer: web.CurrentViewer,
    session: DbSession,
    background: BackgroundTasks,
    form: forms.PostedForm,
) -> Response:
    values = _values(form)
    body = {"name": values["name"], "description": values["description"] or None}

    def create_segment() -> Segment:
        data = SegmentCreate.model_validate({**body, "rules": _rules(values)})
        return segments.create_segment(
            session=session, account_id=viewer.member.account_id, data=data, role=viewer.member.role
        )

    try:
        # posted again (a double click, the back button): open the segment the first post made
        made = forms.once(
            session=session,
            viewer=viewer,
            nonce=forms.text(form, "form_nonce"),
            create=create_segment,
            describe=lambda segment: str(segment.id),
        )
    except ValidationError as exc:
        errors = {**web.form_errors(exc, LABELS), **_rule_errors(exc)}
        errors = {k: v for k, v in errors.items() if k != "rules" or len(errors) == 1}
        return _form(request, viewer, values, errors, status=422)
    except ValidationFailed as exc:
        return _form(request, viewer, values, _limit_errors(exc), status=422)
    if isinstance(made, form_nonces.NotCreated):
        if not made.earlier:
            return _form(request, viewer, values, {"form": forms.STALE_FORM}, status=422)
        return web.redirect(f"{web.PREFIX}/activate/segments/{made.earlier}")
    background.add_task(wake_worker, request)
    return web.redirect(f"{web.PREFIX}/activate/segments/{made.id}")


@router.get("/{segment_id}")
def detail(
    request: Request, segment_id: SegmentId, viewer: web.CurrentViewer, session: DbSession
) -> Response:
    account_id = viewer.member.account_id
    offset = web.offset_param(request)
    segment = segments.segment_out(
        segments.get_segment(session=session, account_id=account_id, segment_id=segment_id)
    )
    members = segments.member_urls(
        session=session,
        account_id=account_id,
        segment_id=segment_id,
        limit=MEMBERS_PAGE,
        offset=offset,
    )
    context = {
        "s": segment,
        "members": members,
        "offset": offset,
        "page_size": MEMBERS_PAGE,
        "done": segment.status in (COMPLETE, FAILED),
    }
    template = (
        "activate/_segment_status.html"
        if request.headers.get("hx-request") == "true"
        else "activate/segment.html"
    )
    return web.render(request, template, context, viewer=viewer)
