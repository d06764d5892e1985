"""Settings: the account's members (change role, remove) and invitations (invite by email)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from beacon.console import web
from beacon.console.pages import NavItem
from beacon.console.pages import _forms as forms
from beacon.core.deps import AppSettings, DbSession
from beacon.core.errors import Conflict, NotFound, ValidationFailed
from beacon.core.ids import id_path
from beacon.core.permissions import Action, Role, outranks_or_equals
from beacon.people import form_nonces, invitations, mail
from beacon.people import service as people_service

router = APIRouter(prefix="/settings")
NAV = (
    NavItem("Settings", "Members", web.PREFIX + "/settings/members", order=10),
    NavItem(
        "Settings",
        "Invitations",
        web.PREFIX + "/settings/invitations",
        action=Action.manage_members,
        order=20,
    ),
)

UserId = Annotated[int, id_path("The user ID")]
InvitationId = Annotated[int, id_path("The invitation ID")]
FormText = Annotated[str, Form(max_length=1000)]
ROLES = [role.value for role in Role]
NOTICES = {
    "role": "Role changed.",
    "removed": "Member removed from the account.",
    "revoked": "Invitation withdrawn: its link no longer works.",
}


def _grantable(viewer: web.Viewer) -> list[str]:
    return [r for r in ROLES if outranks_or_equals(viewer.member.role, r)]


@router.get("/members")
def members_page(
    request: Request,
    viewer: web.CurrentViewer,
    session: DbSession,
    done: str = "",
) -> Response:
    # Notices come from a fixed list by key: a link never sets the page's words.
    return _members(request, viewer, session, notice=NOTICES.get(done, ""))


def _members(
    request: Request,
    viewer: web.Viewer,
    session: DbSession,
    *,
    notice: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    members = people_service.list_members(session=session, member=viewer.member)
    return web.render(
        request,
        "settings/members.html",
        {
            "members": members,
            "roles": _grantable(viewer),
            "notice": notice,
            "error": error,
            "owners": sum(1 for m in members if m.role == Role.owner),
            "new_form_nonce": form_nonces.new,  # one for each Remove form
        },
        viewer=viewer,
        status=status,
    )


@router.post("/members/{user_id}/role")
def change_role(
    request: Request,
    user_id: UserId,
    viewer: web.CurrentViewer,
    session: DbSession,
    role: FormText = "",
) -> Response:
    if role not in ROLES:
        return _members(request, viewer, session, error="Choose a role", status=422)
    try:
        people_service.change_role(
            session=session, member=viewer.member, user_id=user_id, role=Role(role)
        )
    except Conflict as exc:
        return _members(request, viewer, session, error=exc.message, status=409)
    return web.redirect(web.PREFIX + "/settings/members?done=role")


@router.post("/members/{user_id}/remove")
def remove_member(
    request: Request,
    user_id: UserId,
    viewer: web.CurrentViewer,
    session: DbSession,
    form_nonce: FormText = "",
) -> Response:
    """Remove a member. Remove pressed twice (a double click, the back button, or the same
    page open in two tabs) is done: the form's nonce, or another form of this session, shows
    this session removed them from this account (the membership row is gone, so nothing else
    can tell them from another account's member, still a 404)."""
    removed = f"{viewer.member.account_id}/{user_id}"

    def remove() -> None:
        people_service.remove_member(session=session, member=viewer.member, user_id=user_id)

    try:
        done = forms.once(
            session=session,
            viewer=viewer,
            nonce=form_nonce,
            create=remove,
            describe=lambda _: removed,
        )
        if isinstance(done, form_nonces.NotCreated) and done.earlier != removed:
            remove()  # a page without a usable nonce (an older Beacon's): as it always did
    except Conflict as exc:
        return _members(request, viewer, session, error=exc.message, status=409)
    except NotFound:
        if not form_nonces.made_by(
            session=session, console_session_id=viewer.signed_in.session_id, created_ref=removed
        ):
            raise
    if user_id == viewer.member.user_id:
        return web.redirect(web.PREFIX + "/")
    return web.redirect(web.PREFIX + "/settings/members?done=removed")


@router.get("/invitations")
def invitations_page(
    request: Request, viewer: web.CurrentViewer, session: DbSession, done: str = ""
) -> Response:
    invitations.require_manager(viewer.member)
    return _invitations(request, viewer, session, notice=NOTICES.get(done, ""))


def _invitations(
    request: Request,
    viewer: web.Viewer,
    session: DbSession,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    warning: str = "",
    link: str = "",
    status: int = 200,
) -> Response:
    return web.render(
        request,
        "settings/invitations.html",
        {
            "pending": invitations.pending(session=session, member=viewer.member),
            "roles": _grantable(viewer),
            "values": values or {"email": "", "role": Role.viewer.value},
            "errors": errors or {},
            "notice": notice,
            "warning": warning,
            "link": link,
            "emails_sent": mail.can_send(viewer.settings),
        },
        viewer=viewer,
        status=status,
    )


@router.post("/invitations")
def invite(
    request: Request,
    viewer: web.CurrentViewer,
    session: DbSession,
    settings: AppSettings,
    email: FormText = "",
    role: FormText = "",
) -> Response:
    values = {"email": email, "role": role}
    invitations.require_manager(viewer.member)
    if role not in ROLES:
        errors = {"role": "Choose a role"}
        return _invitations(request, viewer, session, values=values, errors=errors, status=422)
    try:
        issued = invitations.invite(
            session=session, member=viewer.member, email=email, role=Role(role)
        )
    except (ValidationFailed, Conflict) as exc:
        field = str(exc.details.get("field", "email"))
        errors = {field: exc.message}
        return _invitations(request, viewer, session, values=values, errors=errors, status=422)
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    link = f"{base}{web.PREFIX}/invite/{issued.token}"
    address = issued.invitation.email
    if not mail.can_send(settings):
        notice = f"Invitation created for {address}. No email server is configured: copy the link and send it to them."
        return _invitations(request, viewer, session, notice=notice, link=link)
    message = mail.invitation_message(
        settings=settings,
        to=address,
        link=link,
        account_name=viewer.member.account_name,
        inviter=viewer.member.name or viewer.member.email,
        role=role,
    )
    try:
        mail.send(settings=settings, message=message)
    except mail.MailFailed as exc:
        return _invitations(request, viewer, session, warning=exc.message, link=link)
    notice = f"Invitation emailed to {address}. The link works once, for 72 hours."
    return _invitations(request, viewer, session, notice=notice)


@router.post("/invitations/{invitation_id}/revoke")
def revoke_invitation(
    request: Request, invitation_id: InvitationId, viewer: web.CurrentViewer, session: DbSession
) -> Response:
    invitations.revoke(session=session, member=viewer.member, invitation_id=invitation_id)
    return web.redirect(web.PREFIX + "/settings/invitations?done=revoked")
