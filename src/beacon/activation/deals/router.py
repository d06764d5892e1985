"""HTTP endpoints of activations (seed 003). Thin: parse, call the service, shape."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response

from beacon.activation.deals import service as activations
from beacon.activation.schemas import ActivationCreate, ActivationOut
from beacon.core.deps import CurrentCaller, DbSession, require_json, wake_worker
from beacon.core.ids import id_path
from beacon.core.jsonbody import StrictJSONRoute
from beacon.core.openapi import v1_errors

router = APIRouter(prefix="/v1/clsfy", route_class=StrictJSONRoute)

ActivationId = Annotated[int, id_path("The activation ID")]


# --- Activations ---------------------------------------------------------------------------


_PENDING_TWIN: dict[int | str, dict[str, Any]] = {
    200: {"description": "An identical activation is still pending: that one"}
}


@router.post(
    "/activations",
    status_code=201,
    response_model=ActivationOut,
    tags=["Activations"],
    responses=_PENDING_TWIN | v1_errors(400, 401, 415, 422, 429),
    dependencies=[Depends(require_json)],
    summary="Activate segments on a DSP",
)
def create_activation(
    body: ActivationCreate,
    caller: CurrentCaller,
    session: DbSession,
    request: Request,
    response: Response,
    background: BackgroundTasks,
) -> ActivationOut:
    activation, created = activations.create_activation(
        session=session, account_id=caller.account_id, data=body
    )
    if created:
        background.add_task(wake_worker, request)
    else:
        response.status_code = 200  # the identical request still pending (docs/activate.md)
    return activations.activation_out(activation)


@router.get(
    "/activations",
    response_model=list[ActivationOut],
    tags=["Activations"],
    responses=v1_errors(401, 429),
    summary="List activations",
)
def list_activations(caller: CurrentCaller, session: DbSession) -> list[ActivationOut]:
    found = activations.list_activations(session=session, account_id=caller.account_id)
    return [activations.activation_out(a) for a in found]


@router.get(
    "/activations/{activation_id}",
    response_model=ActivationOut,
    tags=["Activations"],
    responses=v1_errors(400, 401, 404, 429),
    summary="Get an activation (poll for the deal id)",
)
def get_activation(
    activation_id: ActivationId, caller: CurrentCaller, session: DbSession
) -> ActivationOut:
    activation = activations.get_activation(
        session=session, account_id=caller.account_id, activation_id=activation_id
    )
    return activations.activation_out(activation)
