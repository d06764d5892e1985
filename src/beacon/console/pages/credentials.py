"""Settings: the account's API keys (/v1) and OAuth clients (/public/v1). A new secret is shown
once, with a copy button; lists never show one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from beacon.console import flash, web
from beacon.console.pages import NavItem
from beacon.core.auth import IssuedKey
from beacon.core.deps import DbSession
from beacon.core.errors import ValidationFailed
from beacon.core.permissions import Action
from beacon.messaging.oauth import service as oauth
from beacon.people import credentials

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

Prefix = Annotated[str, Form(max_length=100)]


SHOWN_ONCE = (
    "The new API key was shown once and is not shown again. If you did not copy it, revoke "
    "it and create another."
)


@router.get("/api-keys")
def keys_page(
    request: Request,
    viewer: web.CurrentViewer,
    session: DbSession,
    done: str = "",
    created: str = "",
) -> Response:
    notice = "API key revoked: requests with it now answer 401." if done == "revoked" else ""
    issued = flash.take(session_id=viewer.signed_in.session_id, flash_id=created)
    if isinstance(issued, IssuedKey):
        notice = f"API key {issued.prefix}… created. Copy it now: it is not shown again."
        return _keys(request, viewer, session, notice=notice, secret=issued.key)
    return _keys(request, viewer, session, notice=SHOWN_ONCE if created else notice)


def _keys(
    request: Request,
    viewer: web.Viewer,
    session: DbSession,
    *,
    notice: str = "",
    secret: str = "",
) -> Response:
    keys = credentials.list_keys(session=session, member=viewer.member)
    return web.render(
        request,
        "settings/api_keys.html",
        {"keys": keys, "notice": notice, "secret": secret},
        viewer=viewer,
    )


@router.post("/api-keys")
def create_key(request: Request, viewer: web.CurrentViewer, session: DbSession) -> Response:
    """Create a key, then redirect (a reload must not create another): the GET shows it once."""
    issued = credentials.create_key(session=session, member=viewer.member)
    held = flash.put(session_id=viewer.signed_in.session_id, value=issued)
    return web.redirect(f"{web.PREFIX}/settings/api-keys?created={held}")


@router.post("/api-keys/{prefix}/revoke")
def revoke_key(
    request: Request, prefix: str, viewer: web.CurrentViewer, session: DbSession
) -> Response:
    credentials.revoke_key(session=session, member=viewer.member, prefix=prefix)
    return web.redirect(web.PREFIX + "/settings/api-keys?done=revoked")


CLIENT_SHOWN_ONCE = (
    "The new client's secret was shown once and is not shown again. If you did not copy it, "
    "revoke the client and create another."
)


@router.get("/oauth-clients")
def clients_page(
    request: Request,
    viewer: web.CurrentViewer,
    session: DbSession,
    done: str = "",
    created: str = "",
) -> Response:
    notice = "Client revoked: its access tokens stopped working." if done == "revoked" else ""
    issued = flash.take(session_id=viewer.signed_in.session_id, flash_id=created)
    if isinstance(issued, oauth.IssuedClient):
        notice = "OAuth client created. Copy the secret now: it is not shown again."
        return _clients(request, viewer, session, notice=notice, issued=issued)
    return _clients(request, viewer, session, notice=CLIENT_SHOWN_ONCE if created else notice)


def _clients(
    request: Request,
    viewer: web.Viewer,
    session: DbSession,
    *,
    notice: str = "",
    issued: oauth.IssuedClient | None = None,
    chosen: list[str] | None = None,
    errors: dict[str, str] | None = None,
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
        },
        viewer=viewer,
        status=422 if errors else 200,
    )


@router.post("/oauth-clients")
def create_client(
    request: Request,
    viewer: web.CurrentViewer,
    session: DbSession,
    scopes: Annotated[list[str] | None, Form(max_length=100)] = None,
) -> Response:
    chosen = scopes or []
    try:
        issued = credentials.create_client(session=session, member=viewer.member, scopes=chosen)
    except ValidationFailed as exc:
        errors = {"scopes": "Choose at least one scope" if not chosen else exc.message}
        return _clients(request, viewer, session, chosen=chosen, errors=errors)
    # Redirect (a reload must not create another client): the GET shows the secret once.
    held = flash.put(session_id=viewer.signed_in.session_id, value=issued)
    return web.redirect(f"{web.PREFIX}/settings/oauth-clients?created={held}")


@router.post("/oauth-clients/{client_id}/revoke")
def revoke_client(
    request: Request, client_id: str, viewer: web.CurrentViewer, session: DbSession
) -> Response:
    credentials.revoke_client(session=session, member=viewer.member, client_id=client_id)
    return web.redirect(web.PREFIX + "/settings/oauth-clients?done=revoked")
