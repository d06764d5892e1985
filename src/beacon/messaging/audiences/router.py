"""Contacts, segments and templates of /public/v1, and the unsubscribe link emails carry."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from beacon.core.csvtext import upload_text
from beacon.core.deps import AppSettings, DbSession, require_json
from beacon.core.errors import BadRequest, not_found, unsupported_content_type
from beacon.core.jsonbody import StrictJSONRoute
from beacon.messaging.audience_schemas import (
    ContactOut,
    ContactsUpsert,
    RenderedOut,
    RenderRequest,
    SegmentCreate,
    SegmentOut,
    TemplateCreate,
    TemplateOut,
    TemplateUpdate,
    UpsertResult,
)
from beacon.messaging.audiences import contacts, segments
from beacon.messaging.campaigns.router import Limit, Offset, base_url
from beacon.messaging.idempotency import Idempotency, respond
from beacon.messaging.oauth.deps import (
    AudiencesRead,
    AudiencesWrite,
    TemplatesRead,
    TemplatesWrite,
    require_also,
)
from beacon.messaging.openapi import public_errors
from beacon.messaging.schemas import Channel, Envelope, PageEnvelope, ok, page
from beacon.messaging.templates import service as templates

# The document's pattern is one import every match of which is accepted: a header row and one
# contact (a regular expression cannot rule out the duplicate keys that several rows may
# carry). The full grammar — the columns, their aliases, up to 10,000 rows — is described.
CSV_IMPORT_SCHEMA = {
    "type": "string",
    "contentMediaType": "text/csv",
    "pattern": r"^externalId,firstName\r?\n[A-Za-z0-9_-]{1,64},[A-Za-z]{0,40}(\r?\n)?$",
    "description": "UTF-8 CSV with a header row naming the columns (externalId, email, phone, "
    "firstName, lastName, address.<part>, subscriptions.<channel>, attributes.<name>) and "
    "one row per contact (at most 10,000); each row needs an externalId or an email, and "
    "keys must not repeat.",
}

router = APIRouter(
    prefix="/public/v1", tags=["Orchestrate: audiences and templates"], route_class=StrictJSONRoute
)

JSON_BODY = [Depends(require_json)]
SegmentId = Annotated[uuid.UUID, Path(alias="segmentId")]
TemplateId = Annotated[uuid.UUID, Path(alias="templateId")]


async def csv_text(request: Request) -> str:
    """The CSV of an import: a text/csv body, or the ``file`` part of a multipart form."""
    content_type = request.headers.get("content-type", "").lower()
    # read (and cache) the body first: the Idempotency-Key fingerprint reads it too
    raw = await request.body()
    if content_type.startswith("multipart/form-data"):
        async with request.form() as form:
            upload = form.get("file")
            if upload is None:
                raise BadRequest("Missing required parameter 'file' (the CSV)")
            # a file part, or the CSV as a plain form field (``curl -F 'file=<contacts.csv'``)
            raw = await upload.read() if isinstance(upload, UploadFile) else upload.encode()
    elif not content_type.startswith("text/csv"):
        raise unsupported_content_type(content_type, "text/csv or multipart/form-data")
    return upload_text(raw, what="The CSV")


@router.post(
    "/contacts",
    response_model=Envelope[UpsertResult],
    responses=public_errors(400, 401, 403, 409, 413, 415, 422, 429),
    dependencies=JSON_BODY,
    summary="Create or update contacts (up to 10,000)",
)
def upsert_contacts(
    body: ContactsUpsert, caller: AudiencesWrite, session: DbSession, idem: Idempotency
) -> JSONResponse:
    return respond(
        session=session,
        account_id=caller.account_id,
        idem=idem,
        status_code=200,
        produce=lambda: contacts.upsert_contacts(
            session=session, account_id=caller.account_id, contacts=body.contacts
        ),
    )


@router.post(
    "/contacts/import",
    response_model=Envelope[UpsertResult],
    responses=public_errors(400, 401, 403, 409, 413, 415, 422, 429),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": CSV_IMPORT_SCHEMA},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": CSV_IMPORT_SCHEMA},
                    }
                },
            },
        }
    },
    summary="Import contacts from CSV",
)
def import_contacts(
    caller: AudiencesWrite,
    text: Annotated[str, Depends(csv_text)],
    session: DbSession,
    idem: Idempotency,
) -> JSONResponse:
    def produce() -> Any:
        parsed = contacts.parse_csv(text)
        return contacts.upsert_contacts(
            session=session, account_id=caller.account_id, contacts=parsed
        )

    return respond(
        session=session, account_id=caller.account_id, idem=idem, status_code=200, produce=produce
    )


@router.get(
    "/contacts",
    response_model=PageEnvelope[ContactOut],
    responses=public_errors(400, 401, 403, 422, 429),
    summary="List contacts",
)
def list_contacts(
    caller: AudiencesRead, session: DbSession, limit: Limit = 20, offset: Offset = 0
) -> JSONResponse:
    items, total = contacts.list_contacts(
        session=session, account_id=caller.account_id, limit=limit, offset=offset
    )
    return page(items, total=total, limit=limit, offset=offset)


@router.post(
    "/segments",
    status_code=201,
    response_model=Envelope[SegmentOut],
    responses=public_errors(400, 401, 403, 409, 415, 422, 429),
    dependencies=JSON_BODY,
    summary="Create a segment (rules or a static list); its reach is evaluated in the background",
)
def create_segment(
    body: SegmentCreate,
    caller: AudiencesWrite,
    session: DbSession,
    settings: AppSettings,
    idem: Idempotency,
) -> JSONResponse:
    def produce() -> Any:
        segment = segments.create_segment(session=session, account_id=caller.account_id, data=body)
        return segments.segment_out(
            session=session,
            segment=segment,
            max_age_seconds=settings.messaging_reach_max_age_seconds,
        )

    return respond(
        session=session, account_id=caller.account_id, idem=idem, status_code=201, produce=produce
    )


@router.get(
    "/segments",
    response_model=PageEnvelope[SegmentOut],
    responses=public_errors(400, 401, 403, 422, 429),
    summary="List segments",
)
def list_segments(
    caller: AudiencesRead,
    session: DbSession,
    settings: AppSettings,
    limit: Limit = 20,
    offset: Offset = 0,
) -> JSONResponse:
    items, total = segments.list_segments(
        session=session, account_id=caller.account_id, limit=limit, offset=offset
    )
    age = settings.messaging_reach_max_age_seconds
    data = [segments.segment_out(session=session, segment=s, max_age_seconds=age) for s in items]
    return page(data, total=total, limit=limit, offset=offset)


@router.get(
    "/segments/{segmentId}",
    response_model=Envelope[SegmentOut],
    responses=public_errors(400, 401, 403, 404, 429),
    summary="Get a segment with its reach",
)
def get_segment(
    segment_id: SegmentId, caller: AudiencesRead, session: DbSession, settings: AppSettings
) -> JSONResponse:
    segment = segments.get_segment(
        session=session, account_id=caller.account_id, segment_id=segment_id
    )
    return ok(
        segments.segment_out(
            session=session,
            segment=segment,
            max_age_seconds=settings.messaging_reach_max_age_seconds,
        )
    )


@router.post(
    "/segments/{segmentId}/evaluate",
    status_code=202,
    response_model=Envelope[SegmentOut],
    responses=public_errors(400, 401, 403, 404, 409, 429),
    summary="Queue a new reach evaluation",
)
def evaluate_segment(
    segment_id: SegmentId,
    caller: AudiencesWrite,
    session: DbSession,
    settings: AppSettings,
    idem: Idempotency,
) -> JSONResponse:
    def produce() -> Any:
        segment = segments.get_segment(
            session=session, account_id=caller.account_id, segment_id=segment_id
        )
        segments.queue_evaluation(
            session=session, account_id=caller.account_id, segment_id=segment.id
        )
        return segments.segment_out(
            session=session,
            segment=segment,
            max_age_seconds=settings.messaging_reach_max_age_seconds,
        )

    return respond(
        session=session, account_id=caller.account_id, idem=idem, status_code=202, produce=produce
    )


@router.post(
    "/templates",
    status_code=201,
    response_model=Envelope[TemplateOut],
    responses=public_errors(400, 401, 403, 409, 415, 422, 429),
    dependencies=JSON_BODY,
    summary="Create a template",
)
def create_template(
    body: TemplateCreate, caller: TemplatesWrite, session: DbSession, idem: Idempotency
) -> JSONResponse:
    return respond(
        session=session,
        account_id=caller.account_id,
        idem=idem,
        status_code=201,
        produce=lambda: templates.template_out(
            templates.create_template(session=session, account_id=caller.account_id, data=body)
        ),
    )


@router.get(
    "/templates",
    response_model=PageEnvelope[TemplateOut],
    responses=public_errors(400, 401, 403, 422, 429),
    summary="List templates",
)
def list_templates(
    caller: TemplatesRead,
    session: DbSession,
    channel: Annotated[Channel | None, Query()] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> JSONResponse:
    items, total = templates.list_templates(
        session=session, account_id=caller.account_id, channel=channel, limit=limit, offset=offset
    )
    return page([templates.template_out(t) for t in items], total=total, limit=limit, offset=offset)


@router.get(
    "/templates/{templateId}",
    response_model=Envelope[TemplateOut],
    responses=public_errors(400, 401, 403, 404, 429),
    summary="Get a template",
)
def get_template(
    template_id: TemplateId, caller: TemplatesRead, session: DbSession
) -> JSONResponse:
    template = templates.get_template(
        session=session, account_id=caller.account_id, template_id=template_id
    )
    return ok(templates.template_out(template))


@router.patch(
    "/templates/{templateId}",
    response_model=Envelope[TemplateOut],
    responses=public_errors(400, 401, 403, 404, 415, 422, 429),
    dependencies=JSON_BODY,
    summary="Change a template (name, status, content)",
)
def update_template(
    template_id: TemplateId, body: TemplateUpdate, caller: TemplatesWrite, session: DbSession
) -> JSONResponse:
    template = templates.update_template(
        session=session, account_id=caller.account_id, template_id=template_id, data=body
    )
    return ok(templates.template_out(template))


@router.post(
    "/templates/{templateId}/render",
    response_model=Envelope[RenderedOut],
    responses=public_errors(400, 401, 403, 404, 409, 415, 422, 429, 503),
    dependencies=JSON_BODY,
    summary="Render a proof for a contact",
    description="Needs `templates:read`; rendering a stored contact (`contactId`) reads its data, "
    "so it needs `audiences:read` too (403 `INSUFFICIENT_SCOPE` otherwise). `unsubscribe_url` "
    "renders to a placeholder link (`/u/preview-placeholder`) that unsubscribes nobody.",
)
def render_template(
    request: Request,
    template_id: TemplateId,
    body: RenderRequest,
    caller: TemplatesRead,
    session: DbSession,
    settings: AppSettings,
    idem: Idempotency,
) -> JSONResponse:
    if body.contact_id is not None:  # a stored contact's data
        require_also(caller, "audiences:read")
    return respond(
        session=session,
        account_id=caller.account_id,
        idem=idem,
        status_code=200,
        produce=lambda: templates.render_proof(
            session=session,
            account_id=caller.account_id,
            template_id=template_id,
            data=body,
            base_url=base_url(request, settings),
        ),
    )


@router.get(
    "/unsubscribe/{token}",
    response_model=Envelope[dict[str, bool]],
    responses=public_errors(404),
    summary="Whether an unsubscribe token's contact is unsubscribed; changes nothing (no "
    "authentication)",
)
def unsubscribe_status(token: str, session: DbSession) -> JSONResponse:
    status = contacts.email_status_by_unsubscribe_token(session=session, token=token)
    if status is None:
        raise not_found("Unsubscribe link", token)
    return ok({"unsubscribed": status == "unsubscribed"})


@router.post(
    "/unsubscribe/{token}",
    response_model=Envelope[dict[str, bool]],
    responses=public_errors(404),
    summary="Unsubscribe the contact of an unsubscribe token (no authentication)",
)
def unsubscribe(token: str, session: DbSession) -> JSONResponse:
    if not contacts.unsubscribe(session=session, token=token):
        raise not_found("Unsubscribe link", token)
    return ok({"unsubscribed": True})
