"""Understand → Classify: classify a pasted URL or text with the service behind
``POST /v1/clsfy/classify`` and show the result (categories by tier, keywords, entities by
type, sentiment, the page's extracted title and language, whether it came from the store)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from pydantic import ValidationError
from starlette.responses import Response

from beacon.console import web
from beacon.console.pages import NavItem
from beacon.contextual import engine, taxonomy
from beacon.contextual import service as contextual_service
from beacon.contextual.schemas import ClassifyRequest
from beacon.core.db import Database
from beacon.core.deps import AppSettings, get_database
from beacon.core.permissions import Action, require
from beacon.core.timefmt import utcnow

router = APIRouter(prefix="/understand/classify")
NAV = (NavItem("Understand", "Classify", web.PREFIX + "/understand/classify", order=10),)
LABELS = {"url": "a page URL", "text": "the text", "title": "the title", "form": "a URL or a text"}


@router.get("")
def classify_form(request: Request, viewer: web.CurrentViewer) -> Response:
    return _page(request, viewer, values={"mode": "url", "url": "", "text": "", "title": ""})


@router.post("")
def classify(
    request: Request,
    viewer: web.CurrentViewer,
    settings: AppSettings,
    db: Annotated[Database, Depends(get_database)],
    mode: Annotated[str, Form()] = "url",
    url: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
) -> Response:
    require(viewer.member.role, Action.classify)  # a viewer hears 403 whatever is posted
    values = {"mode": "text" if mode == "text" else "url", "url": url, "text": text, "title": title}
    body = {"text": text, "title": title} if values["mode"] == "text" else {"url": url}
    try:
        parsed = ClassifyRequest.model_validate(body)
    except ValidationError as exc:
        errors = web.form_errors(exc, LABELS)
        errors = {(values["mode"] if k == "form" else k): v for k, v in errors.items()}
        return _page(request, viewer, values=values, errors=errors, status=422)
    role = viewer.member.role
    if parsed.text is not None:
        classification = contextual_service.classify_content(
            text=parsed.text, title=parsed.title, settings=settings, role=role
        )
        result: dict[str, Any] = {
            "url": None,
            "classification": classification,
            "classified_at": utcnow(),
            "engine_version": engine.ENGINE_VERSION,
            "cached": False,
            "refresh_error": None,
            "title": parsed.title,
            "language": classification.get("language"),
        }
        return _page(request, viewer, values=values, result=_shaped(result))
    assert parsed.url is not None
    outcome = contextual_service.classify_url(db=db, settings=settings, url=parsed.url, role=role)
    if outcome.error is not None:
        return _page(
            request,
            viewer,
            values=values,
            fetch_error={"url": outcome.url, "reason": outcome.error, "retry_at": outcome.retry_at},
            status=422,
        )
    result = {
        "url": outcome.url,
        "classification": outcome.classification or {},
        "classified_at": outcome.classified_at,
        "engine_version": outcome.engine_version,
        "cached": outcome.cached,
        "refresh_error": outcome.refresh_error,
        "title": outcome.title,
        "language": outcome.language,
    }
    return _page(request, viewer, values=values, result=_shaped(result))


def _shaped(result: dict[str, Any]) -> dict[str, Any]:
    """The classification split as the page shows it: tier-1 and tier-2 categories, entities
    grouped by type."""
    classification = result["classification"]
    tiers: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    for category in classification.get("iab_categories", []):
        node = taxonomy.categories().get(str(category.get("id")))
        tier = node.tier if node is not None else (2 if "-" in str(category.get("id")) else 1)
        parent = taxonomy.categories().get(node.parent) if node and node.parent else None
        tiers[tier].append({**category, "parent": parent.name if parent else ""})
    entities: dict[str, list[dict[str, Any]]] = {}
    for entity in classification.get("entities", []):
        entities.setdefault(str(entity.get("type", "other")), []).append(entity)
    return {
        **result,
        "tier1": tiers[1],
        "tier2": tiers[2],
        "entities": dict(sorted(entities.items())),
        "keywords": classification.get("keywords", []),
        "sentiment": classification.get("sentiment") or {},
        "notes": classification.get("notes") or [],
    }


def _page(
    request: Request,
    viewer: web.Viewer,
    *,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    result: dict[str, Any] | None = None,
    fetch_error: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    return web.render(
        request,
        "understand/classify.html",
        {"values": values, "errors": errors or {}, "result": result, "fetch_error": fetch_error},
        viewer=viewer,
        status=status,
    )
