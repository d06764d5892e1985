"""HTTP endpoints of inventory and segments. Thin: parse, call the service, shape."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from pydantic import BaseModel

from beacon.activation.inventory import service as inventory
from beacon.activation.schemas import (
    DEFAULT_PAGE,
    MAX_PAGE,
    URL_LINES_PATTERN,
    InventoryAdded,
    InventoryPage,
    InventoryUpload,
    MemberDomainPage,
    MemberUrlPage,
    SegmentCreate,
    SegmentOut,
    SegmentUpdate,
)
from beacon.activation.segments import service as segments
from beacon.core.deps import AppSettings, CurrentCaller, DbSession, require_json, wake_worker
from beacon.core.errors import UnsupportedMediaType
from beacon.core.ids import id_path
from beacon.core.jsonbody import StrictJSONRoute, parse_model
from beacon.core.openapi import v1_errors
from beacon.core.paging import Offset

router = APIRouter(prefix="/v1/clsfy", route_class=StrictJSONRoute)

SegmentId = Annotated[int, id_path("The segment ID")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Results per page (max 10000)")]


async def raw_body(request: Request) -> bytes:
    """The request body as sent (for endpoints that accept JSON or text uploads)."""
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]


def content_kind(request: Request, *, text_types: tuple[str, ...]) -> str:
    """``json`` or ``text`` from the Content-Type; 415 for anything else."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if "json" in content_type:
        return "json"
    if content_type in text_types:
        return "text"
    allowed = ", ".join(("application/json", *text_types))
    raise UnsupportedMediaType(
        f"Unsupported content type '{content_type or 'none'}': send {allowed}"
    )


def upload_body(
    model: type[BaseModel], text_type: str, description: str, pattern: str | None = None
) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for an endpoint taking JSON or a text upload (whose grammar, if
    given, is a ``pattern`` every match of which is accepted)."""
    text_schema: dict[str, Any] = {"type": "string", "description": description}
    if pattern is not None:
        text_schema["pattern"] = pattern
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": model.model_json_schema()},
                text_type: {"schema": text_schema},
            },
        }
    }


# --- Inventory -----------------------------------------------------------------------------


@router.post(
    "/inventory",
    response_model=InventoryAdded,
    tags=["Inventory"],
    responses=v1_errors(400, 401, 413, 415, 422, 429),
    openapi_extra=upload_body(
        InventoryUpload, "text/plain", "One URL per line (or text/csv)", URL_LINES_PATTERN
    ),
    summary="Add URLs to the inventory",
)
def add_inventory(
    request: Request,
    body: RawBody,
    caller: CurrentCaller,
    session: DbSession,
    settings: AppSettings,
) -> InventoryAdded:
    if content_kind(request, text_types=("text/plain", "text/csv")) == "json":
        urls = inventory.parse_json_upload(parse_model(InventoryUpload, body))
    else:
        urls = inventory.parse_text_upload(body)
    return inventory.add_urls(
        session=session,
        account_id=caller.account_id,
        labelled_urls=urls,
        allow_private=settings.fetch_allow_private_networks,
    )


@router.get(
    "/inventory",
    response_model=InventoryPage,
    tags=["Inventory"],
    responses=v1_errors(400, 401, 422, 429),
    summary="List the inventory with classification status",
)
def list_inventory(
    caller: CurrentCaller, session: DbSession, limit: Limit = DEFAULT_PAGE, offset: Offset = 0
) -> InventoryPage:
    return inventory.list_inventory(
        session=session, account_id=caller.account_id, limit=limit, offset=offset
    )


# --- Segments ------------------------------------------------------------------------------


@router.post(
    "/segments",
    status_code=201,
    response_model=SegmentOut,
    tags=["Segments"],
    responses=v1_errors(400, 401, 415, 422, 429),
    dependencies=[Depends(require_json)],
    summary="Create a segment (built asynchronously)",
)
def create_segment(
    body: SegmentCreate,
    caller: CurrentCaller,
    session: DbSession,
    request: Request,
    background: BackgroundTasks,
) -> SegmentOut:
    segment = segments.create_segment(session=session, account_id=caller.account_id, data=body)
    background.add_task(wake_worker, request)
    return segments.segment_out(segment)


@router.get(
    "/segments",
    response_model=list[SegmentOut],
    tags=["Segments"],
    responses=v1_errors(401, 429),
    summary="List segments",
)
def list_segments(caller: CurrentCaller, session: DbSession) -> list[SegmentOut]:
    found = segments.list_segments(session=session, account_id=caller.account_id)
    return [segments.segment_out(s) for s in found]


@router.get(
    "/segments/{segment_id}",
    response_model=SegmentOut,
    tags=["Segments"],
    responses=v1_errors(400, 401, 404, 429),
    summary="Get a segment",
)
def get_segment(segment_id: SegmentId, caller: CurrentCaller, session: DbSession) -> SegmentOut:
    segment = segments.get_segment(
        session=session, account_id=caller.account_id, segment_id=segment_id
    )
    return segments.segment_out(segment)


@router.put(
    "/segments/{segment_id}",
    response_model=SegmentOut,
    tags=["Segments"],
    responses=v1_errors(400, 401, 404, 415, 422, 429),
    dependencies=[Depends(require_json)],
    summary="Update a segment (new rules rebuild it)",
)
def update_segment(
    segment_id: SegmentId,
    body: SegmentUpdate,
    caller: CurrentCaller,
    session: DbSession,
    request: Request,
    background: BackgroundTasks,
) -> SegmentOut:
    segment = segments.update_segment(
        session=session, account_id=caller.account_id, segment_id=segment_id, data=body
    )
    background.add_task(wake_worker, request)
    return segments.segment_out(segment)


@router.delete(
    "/segments/{segment_id}",
    status_code=204,
    response_class=Response,
    tags=["Segments"],
    responses=v1_errors(400, 401, 404, 422, 429),
    summary="Delete a segment (not while an active deal uses it)",
)
def delete_segment(segment_id: SegmentId, caller: CurrentCaller, session: DbSession) -> Response:
    segments.delete_segment(session=session, account_id=caller.account_id, segment_id=segment_id)
    return Response(status_code=204)


@router.get(
    "/segments/{segment_id}/urls",
    response_model=MemberUrlPage,
    tags=["Segments"],
    responses=v1_errors(400, 401, 404, 422, 429),
    summary="Page through a segment's member URLs",
)
def segment_urls(
    segment_id: SegmentId,
    caller: CurrentCaller,
    session: DbSession,
    limit: Limit = DEFAULT_PAGE,
    offset: Offset = 0,
) -> MemberUrlPage:
    return segments.member_urls(
        session=session,
        account_id=caller.account_id,
        segment_id=segment_id,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/segments/{segment_id}/domains",
    response_model=MemberDomainPage,
    tags=["Segments"],
    responses=v1_errors(400, 401, 404, 422, 429),
    summary="Page through a segment's member domains",
)
def segment_domains(
    segment_id: SegmentId,
    caller: CurrentCaller,
    session: DbSession,
    limit: Limit = DEFAULT_PAGE,
    offset: Offset = 0,
) -> MemberDomainPage:
    return segments.member_domains(
        session=session,
        account_id=caller.account_id,
        segment_id=segment_id,
        limit=limit,
        offset=offset,
    )
