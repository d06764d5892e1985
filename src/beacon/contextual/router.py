"""HTTP endpoints of the Understand API (`/v1/clsfy/classify`). Thin: parse, call, shape."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from beacon.contextual import batches, engine, service
from beacon.contextual.errors import Unclassifiable
from beacon.contextual.schemas import Batch, BatchCreate, ClassifyRequest, ClassifyResponse
from beacon.core.db import Database
from beacon.core.deps import AppSettings, CurrentCaller, DbSession, get_database, require_json
from beacon.core.ids import id_path
from beacon.core.jsonbody import StrictJSONRoute
from beacon.core.openapi import v1_errors
from beacon.core.paging import Offset
from beacon.core.timefmt import utcnow

router = APIRouter(
    prefix="/v1/clsfy", tags=["Understand: classification"], route_class=StrictJSONRoute
)

BatchId = Annotated[int, id_path("The batch ID")]


@router.post(
    "/classify",
    response_model=ClassifyResponse,
    responses=v1_errors(400, 401, 415, 422, 429),
    dependencies=[Depends(require_json)],
    summary="Classify a URL or a text",
    description="Fetches and classifies `url` (served from the store while fresh), or "
    "classifies `text` as given. A page that cannot be fetched answers 422 with the reason.",
)
def classify(
    body: ClassifyRequest,
    caller: CurrentCaller,
    settings: AppSettings,
    db: Annotated[Database, Depends(get_database)],
) -> ClassifyResponse:
    if body.text is not None:
        return ClassifyResponse(
            url=None,
            classification=service.classify_content(
                text=body.text, title=body.title, settings=settings
            ),
            classified_date=utcnow(),
            engine_version=engine.ENGINE_VERSION,
            cached=False,
        )
    assert body.url is not None
    # Not DbSession: the service opens its own short transactions so that no connection is
    # held during the fetch, and a failed fetch is committed before it is answered as 422.
    outcome = service.classify_url(db=db, settings=settings, url=body.url)
    if outcome.error is not None:
        raise Unclassifiable(url=outcome.url, reason=outcome.error)
    return ClassifyResponse.from_outcome(outcome)


@router.post(
    "/classify/batch",
    status_code=201,
    response_model=Batch,
    responses=v1_errors(400, 401, 415, 422, 429),
    dependencies=[Depends(require_json)],
    summary="Classify up to 1,000 URLs asynchronously",
)
def create_batch(body: BatchCreate, caller: CurrentCaller, session: DbSession) -> Batch:
    batch = batches.create_batch(session=session, account_id=caller.account_id, urls=body.urls)
    return Batch(
        id=batch.id,
        status=batch.status,
        created_date=batch.created_date,
        processed_date=None,
        url_count=batch.url_count,
        summary=None,
        results=None,
        pagination=None,
    )


@router.get(
    "/classify/batch/{batch_id}",
    response_model=Batch,
    responses=v1_errors(400, 401, 404, 422, 429),
    summary="Get a classification batch and a page of its results",
)
def get_batch(
    batch_id: BatchId,
    caller: CurrentCaller,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Results per page.")] = 1000,
    offset: Offset = 0,
) -> Batch:
    view = batches.get_batch(
        session=session, account_id=caller.account_id, batch_id=batch_id, limit=limit, offset=offset
    )
    return Batch.from_view(view)
