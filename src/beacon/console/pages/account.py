"""Settings: your own password (everyone) and deleting the account (owners)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from beacon.console import web
from beacon.console.pages import NavItem
from beacon.console.pages import _forms as forms
from beacon.core.deps import AppSettings, DbSession, trusted_client_ip
from beacon.core.errors import ValidationFailed
from beacon.core.permissions import Action, require
from beacon.people import service as people_service
from beacon.people import sessions

router = APIRouter(prefix="/settings")
NAV = (
    NavItem("Settings", "Password", web.PREFIX + "/settings/password", order=50),
    NavItem(
        "Settings",
        "Delete account",
        web.PREFIX + "/settings/delete-account",
        Action.delete_account,
        order=60,
    ),
)

Secret = Annotated[str, Form()]  # bounded by the body limit; its length is a field error


@router.get("/password")
def password_page(request: Request, viewer: web.CurrentViewer, done: str = "") -> Response:
    return _password(request, viewer, notice="Password changed." if done else "")


def _password(
    request: Request,
    viewer: web.Viewer,
    *,
    errors: dict[str, str] | None = None,
    notice: str = "",
    status: int = 422,
) -> Response:
    return web.render(
        request,
        "settings/password.html",
        {"errors": errors or {}, "notice": notice},
        viewer=viewer,
        status=status if errors else 200,
    )


@router.post("/password")
def change_password(
    request: Request,
    viewer: web.CurrentViewer,
    session: DbSession,
    settings: AppSettings,
    current_password: Secret = "",
    new_password: Secret = "",
    confirm_password: Secret = "",
) -> Response:
    typed = {"current_password": current_password, "new_password": new_password}
    if errors := forms.too_long_secrets(**typed, confirm_password=confirm_password):
        return _password(request, viewer, errors=errors)
    if not current_password:
        return _password(
            request, viewer, errors={"current_password": "Enter your current password"}
        )
    if new_password != confirm_password:
        errors = {"confirm_password": "The two new passwords are not the same"}
        return _password(request, viewer, errors=errors)
    try:
        sessions.change_password(
            session=session,
            member=viewer.member,
            current=current_password,
            new=new_password,
            client_ip=trusted_client_ip(request, settings.trusted_proxy_list),
            throttle=web.login_throttle(request, settings),
            keep_session_id=viewer.signed_in.session_id,
            device_token=request.cookies.get(web.DEVICE_COOKIE, ""),
        )
    except sessions.LockedOut as exc:
        errors = {"current_password": exc.message}
        refused = _password(request, viewer, errors=errors, status=exc.status)
        refused.headers.update(exc.headers)  # Retry-After
        return refused
    except ValidationFailed as exc:
        field = str(exc.details.get("field", "new_password"))
        return _password(request, viewer, errors={field: exc.message})
    return web.redirect(web.PREFIX + "/settings/password?done=1")


@router.get("/delete-account")
def delete_account_page(request: Request, viewer: web.CurrentViewer) -> Response:
    require(viewer.member.role, Action.delete_account)
    return _delete(request, viewer)


def _delete(
    request: Request, viewer: web.Viewer, *, errors: dict[str, str] | None = None
) -> Response:
    return web.render(
        request,
        "settings/delete_account.html",
        {"errors": errors or {}},
        viewer=viewer,
        status=422 if errors else 200,
    )


@router.post("/delete-account")
def delete_account(
    request: Request,
    viewer: web.CurrentViewer,
    session: DbSession,
    confirmation: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        people_service.delete_account(
            session=session, member=viewer.member, confirmation=confirmation
        )
    except ValidationFailed as exc:
        return _delete(request, viewer, errors={"confirmation": exc.message})
    if any(a[0] != viewer.member.account_id for a in viewer.signed_in.accounts):
        return web.redirect(web.PREFIX + "/")
    sessions.sign_out(session=session, token=request.cookies.get(web.SESSION_COOKIE, ""))
    response = web.redirect(web.PREFIX + "/login?deleted=1")
    response.delete_cookie(web.SESSION_COOKIE, path=web.PREFIX)
    return response
