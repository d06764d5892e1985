"""HTTP endpoints of the inventory (seed 001). Thin: parse, call the service, shape."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from beacon.activation.inventory import service as inventory
from beacon.activation.schemas import (
    DEFAULT_PAGE,
    MAX_PAGE,
    URL_LINES_PATTERN,
    InventoryAdded,
    InventoryPage,
    InventoryUpload,
)
from beacon.activation.uploads import RawBody, content_kind, upload_body
from beacon.core.deps import AppSettings, CurrentCaller, DbSession
from beacon.core.jsonbody import StrictJSONRoute, parse_model
from beacon.core.openapi import v1_errors
from beacon.core.paging import Offset

router = APIRouter(prefix="/v1/clsfy", route_class=StrictJSONRoute)

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Results per page (max 10000)")]


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
