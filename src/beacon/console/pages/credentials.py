"""Settings: the account's API keys (/v1) and OAuth clients (/public/v1). A new secret is shown
once, with a copy button, in the answer to the create form's POST; lists never show one. Each
create form carries a one-time nonce (``people.form_nonces``): posting it again creates
nothing, and the page names what the first post created."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from beacon.console import web
from beacon.console.pages import NavItem
from beacon.core.deps import DbSession
from beacon.core.errors import ValidationFailed
from beacon.core.permissions import Action
from beacon.messaging.oauth import service as oauth
from beacon.people import credentials, form_nonces

router = APIRouter(prefix="/settings")
NAV = (
    NavItem(
        "Settings", "API keys", web.PREFIX + "/settings/api-keys", Action.manage_keys, order=30
    ),
    NavItem(
        "Settings",
        "OAuth clients",
        web.PREFIX + "/settings/oauth-clients",
        Action.manage_clients,
        order=40,
    ),
)

Nonce = Annotated[str, Form(max_length=200)]

STALE_FORM = "This form was out of date: nothing was created. Create again from this page."


@router.get("/api-keys")
def keys_page(
    request: Request, viewer: web.CurrentViewer, session: DbSession, done: str = ""
) -> Response:
    notice = "API key revoked: requests with it now answer 401." if done == "revoked" else ""
    return _keys(request, viewer, session, notice=notice)


def _keys(
    request: Request,
    viewer: web.Viewer,
    session: DbSession,
    *,
    notice: str = "",
    secret: str = "",
    status: int = 200,
) -> Response:
    keys = credentials.list_keys(session=session, member=viewer.member)
    return web.render(
        request,
        "settings/api_keys.html",
        {"keys": keys, "notice": notice, "secret": secret, "form_nonce": form_nonces.new()},
        viewer=viewer,
        status=status,
    )


@router.post("/api-keys")
def create_key(
    request: Request, viewer: web.CurrentViewer, session: DbSession, form_nonce: Nonce = ""
) -> Response:
    """Create a key and answer the page showing it once; the same form posted again (a reload)
    creates nothing and says which key it made."""
    made = form_nonces.once(
        session=session,
        console_session_id=viewer.signed_in.session_id,
        nonce=form_nonce,
        create=lambda: credentials.create_key(session=session, member=viewer.member),
        describe=lambda issued: issued.prefix,
    )
    if isinstance(made, form_nonces.NotCreated):
        if not made.earlier:
            return _keys(request, viewer, session, notice=STALE_FORM, status=422)
        notice = (
            f"API key {made.earlier}… was created by this form and shown once. If you did not "
            "copy it, revoke it and create another."
        )
        return _keys(request, viewer, session, notice=notice)
    notice = f"API key {made.prefix}… created. Copy it now: it is not shown again."
    return _keys(request, viewer, session, notice=notice, secret=made.key)


@router.post("/api-keys/{prefix}/revoke")
def revoke_key(
    request: Request, prefix: str, viewer: web.CurrentViewer, session: DbSession
) -> Response:
    credentials.revoke_key(session=session, member=viewer.member, prefix=prefix)
    return web.redirect(web.PREFIX + "/settings/api-keys?done=revoked")


@router.get("/oauth-clients")
def clients_page(
    request: Request, viewer: web.CurrentViewer, session: DbSession, done: str = ""
) -> Response:
    notice = "Client revoked: its access tokens stopped working." if done == "revoked" else ""
    return _clients(request, viewer, session, notice=notice)


def _clients(
    request: Request,
    viewer: web.Viewer,
    session: DbSession,
    *,
    notice: str = "",
    issued: oauth.IssuedClient | None = None,
    chosen: list[str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    clients = credentials.list_clients(session=session, member=viewer.member)
    return web.render(
        request,
        "settings/oauth_clients.html",
        {
            "clients": clients,
            "notice": notice,
            "issued": issued,
            "scopes": oauth.SCOPES,
            "chosen": oauth.SCOPES if chosen is None else chosen,
            "errors": errors or {},
            "form_nonce": form_nonces.new(),
        },
        viewer=viewer,
        status=422 if errors else status,
    )


@router.post("/oauth-clients")
def create_client(
    request: Request,
    viewer: web.CurrentViewer,
    session: DbSession,
    scopes: Annotated[list[str] | None, Form(max_length=100)] = None,
    form_nonce: Nonce = "",
) -> Response:
    """Create a client and answer the page showing its secret once; the same form posted again
    (a reload) creates nothing and says which client it made."""
    chosen = scopes or []
    try:
        made = form_nonces.once(
            session=session,
            console_session_id=viewer.signed_in.session_id,
            nonce=form_nonce,
            create=lambda: credentials.create_client(
                session=session, member=viewer.member, scopes=chosen
            ),
            describe=lambda issued: issued.client_id,
        )
    except ValidationFailed as exc:
        errors = {"scopes": "Choose at least one scope" if not chosen else exc.message}
        return _clients(request, viewer, session, chosen=chosen, errors=errors)
    if isinstance(made, form_nonces.NotCreated):
        if not made.earlier:
            return _clients(request, viewer, session, notice=STALE_FORM, status=422)
        notice = (
            f"OAuth client {made.earlier} was created by this form and its secret shown once. "
            "If you did not copy it, revoke the client and create another."
        )
        return _clients(request, viewer, session, notice=notice)
    notice = "OAuth client created. Copy the secret now: it is not shown again."
    return _clients(request, viewer, session, notice=notice, issued=made)


@router.post("/oauth-clients/{client_id}/revoke")
def revoke_client(
    request: Request, client_id: str, viewer: web.CurrentViewer, session: DbSession
) -> Response:
    credentials.revoke_client(session=session, member=viewer.member, client_id=client_id)
    return web.redirect(web.PREFIX + "/settings/oauth-clients?done=revoked")
