"""Sign in, sign out, switch account, accept an invitation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from beacon.console import web
from beacon.console.pages import _forms as forms
from beacon.core.deps import AppSettings, DbSession, trusted_client_ip
from beacon.core.errors import Unauthorized, ValidationFailed
from beacon.people import invitations, sessions

router = APIRouter()

FormText = Annotated[str, Form(max_length=1000)]
Password = Annotated[str, Form()]  # bounded by the body limit; its length is a field error


def _login_form(
    request: Request,
    settings: AppSettings,
    *,
    email: str = "",
    next_path: str = "",
    error: str = "",
    errors: dict[str, str] | None = None,
    notice: str = "",
    status: int = 200,
) -> Response:
    token = web.login_csrf(request)
    context = {
        "email": email,
        "next": web.safe_next(next_path),
        "error": error,
        "errors": errors or {},
        "notice": notice,
    }
    response = web.render(
        request,
        "login.html",
        {**context, "login_csrf": token},
        status=status,
    )
    web.set_cookie(response, settings, web.LOGIN_CSRF_COOKIE, token)
    return response


LOGIN_NOTICES = {
    "accepted": "Invitation accepted. Sign in to continue.",
    "deleted": "The account was deleted.",
}


@router.get("/login")
def login_page(
    request: Request, settings: AppSettings, next: str = "", accepted: str = "", deleted: str = ""
) -> Response:
    notice = LOGIN_NOTICES["accepted"] if accepted else LOGIN_NOTICES["deleted"] if deleted else ""
    return _login_form(request, settings, next_path=next, notice=notice)


@router.post("/login")
def login(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    email: FormText = "",
    password: Password = "",
    csrf_token: FormText = "",
    next: FormText = "",
) -> Response:
    web.check_csrf(request, request.cookies.get(web.LOGIN_CSRF_COOKIE, ""), csrf_token)
    if errors := forms.too_long_secrets(password=password):
        return _login_form(
            request,
            settings,
            email=email,
            next_path=next,
            error=errors["password"],
            errors=errors,
            status=422,
        )
    if not email.strip() or not password:
        return _login_form(
            request,
            settings,
            email=email,
            next_path=next,
            error="Enter your email address and password",
            status=400,
        )
    try:
        signed_in = sessions.sign_in(
            session=session,
            email=email,
            password=password,
            client_ip=trusted_client_ip(request, settings.trusted_proxy_list),
            throttle=web.login_throttle(request, settings),
            device_token=request.cookies.get(web.DEVICE_COOKIE, ""),
        )
    except sessions.LockedOut as exc:
        refused = _login_form(
            request, settings, email=email, next_path=next, error=exc.message, status=429
        )
        refused.headers.update(exc.headers)  # Retry-After
        return refused
    except Unauthorized as exc:
        return _login_form(
            request, settings, email=email, next_path=next, error=exc.message, status=401
        )
    response = web.redirect(web.safe_next(next))
    web.set_cookie(response, settings, web.SESSION_COOKIE, signed_in.token)
    # a new device token, or the valid one presented, renewed: a year after the last sign-in
    device_token = signed_in.device_token or request.cookies.get(web.DEVICE_COOKIE, "")
    remembered = int(sessions.DEVICE_REMEMBERED.total_seconds())
    web.set_cookie(response, settings, web.DEVICE_COOKIE, device_token, max_age=remembered)
    response.delete_cookie(web.LOGIN_CSRF_COOKIE, path=web.PREFIX)
    return response


@router.post("/logout")
def logout(request: Request, signed_in: web.CurrentSession, session: DbSession) -> Response:
    sessions.sign_out(session=session, token=request.cookies.get(web.SESSION_COOKIE, ""))
    response = web.redirect(web.PREFIX + "/login")
    response.delete_cookie(web.SESSION_COOKIE, path=web.PREFIX)
    return response


@router.post("/switch-account")
def switch_account(
    request: Request,
    signed_in: web.CurrentSession,
    session: DbSession,
    account_id: Annotated[int, Form()],
) -> Response:
    sessions.switch_account(session=session, signed_in=signed_in, account_id=account_id)
    return web.redirect(web.PREFIX + "/", request=request)


def _invite_form(
    request: Request,
    settings: AppSettings,
    token: str,
    *,
    session: DbSession,
    errors: dict[str, str] | None = None,
    name: str = "",
    status: int = 200,
) -> Response:
    view = invitations.look_up(session=session, token=token)
    csrf = web.login_csrf(request)
    response = web.render(
        request,
        "accept_invite.html",
        {
            "invite": view,
            "token": token,
            "errors": errors or {},
            "name": name,
            "login_csrf": csrf,
            # The person's own answer (the link under the form), never the database's.
            "have_sign_in": request.query_params.get("sign_in") == "1",
        },
        status=status,
    )
    web.set_cookie(response, settings, web.LOGIN_CSRF_COOKIE, csrf)
    return response


@router.get("/invite/{token}")
def invite_page(
    request: Request, token: str, session: DbSession, settings: AppSettings
) -> Response:
    return _invite_form(request, settings, token, session=session)


@router.post("/invite/{token}")
def accept_invite(
    request: Request,
    token: str,
    session: DbSession,
    settings: AppSettings,
    name: FormText = "",
    password: Password = "",
    csrf_token: FormText = "",
) -> Response:
    web.check_csrf(request, request.cookies.get(web.LOGIN_CSRF_COOKIE, ""), csrf_token)
    if errors := forms.too_long_secrets(password=password):
        return _invite_form(
            request, settings, token, session=session, errors=errors, name=name, status=422
        )
    # No savepoint: accept() checks everything before it writes, and on SQLite a savepoint opens
    # a read snapshot that the slow password hash can outlive ("database is locked").
    try:
        invitations.accept(
            session=session,
            token=token,
            name=name,
            password=password,
            client_ip=trusted_client_ip(request, settings.trusted_proxy_list),
            throttle=web.login_throttle(request, settings),
            device_token=request.cookies.get(web.DEVICE_COOKIE, ""),
        )
    except (ValidationFailed, sessions.LockedOut) as exc:
        field = str(exc.details.get("field", "password"))
        refused = _invite_form(
            request,
            settings,
            token,
            session=session,
            errors={field: exc.message},
            name=name,
            status=exc.status if isinstance(exc, sessions.LockedOut) else 400,
        )
        if isinstance(exc, sessions.LockedOut):
            refused.headers.update(exc.headers)  # Retry-After
        return refused
    return web.redirect(web.PREFIX + "/login?accepted=1")
