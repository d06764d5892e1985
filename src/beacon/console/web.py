"""What every console page uses: the template environment, ``render``, the signed-in member
dependency, CSRF checks, redirects and the security headers of every /app response."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import jinja2
from babel.numbers import get_currency_precision
from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from beacon import __version__
from beacon.console import idn
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.deps import get_app_settings, get_database
from beacon.core.errors import (
    NUL_MESSAGE,
    APIError,
    Forbidden,
    InvalidValue,
    Unauthorized,
    ValidationFailed,
    value_reason,
)
from beacon.core.paging import MAX_OFFSET
from beacon.core.permissions import Action, allows
from beacon.core.timefmt import as_utc
from beacon.people import sessions
from beacon.people.service import Member

PREFIX = "/app"
SESSION_COOKIE = "beacon_session"
LOGIN_CSRF_COOKIE = "beacon_login_csrf"
# A browser someone signed in on: its failed sign-ins count on a quota of their own
# (``people.sessions``), so others' guesses do not lock that person out of it.
DEVICE_COOKIE = "beacon_device"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_LOGIN_CSRF_SHAPE = re.compile(r"[A-Za-z0-9_-]{32}")  # secrets.token_urlsafe(24)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


def whole_number(text: str) -> int | None:
    """``text`` as a whole number when it is written in ASCII digits, else None.

    ``str.isdigit`` alone also accepts '²' or '١', which ``int`` then refuses or reads: a typed
    or crafted value must become a form error, never a 500. Beyond 30 digits (no count, id or
    offset is that long; ``int`` refuses more than 4,300) it is no number either."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 30 else None


def offset_param(request: Request) -> int:
    """The ``offset`` query parameter of a paged console list: 0 when absent or not a whole
    number, at most ``MAX_OFFSET`` (a larger one overflowed the database's integer: 500)."""
    number = whole_number(request.query_params.get("offset", "0"))
    return 0 if number is None else min(number, MAX_OFFSET)


class SignInRequired(Unauthorized):
    """No live console session: GET pages redirect to the sign-in form."""


class CsrfRefused(Forbidden):
    code = "csrf_refused"


def _number(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"  # type: ignore[call-overload]


def _amount(value: object) -> str:
    """Spend or eCPM (no currency of its own): two decimals and thousands separators."""
    if value is None:
        return "—"
    return f"{value:,.2f}"


# An amount whose currency is not stated (a cpa target with no budget beside it) reads as the
# seed's dollar amounts do: two decimals.
_UNSTATED_CURRENCY_DECIMALS = 2


def _money(value: float | None, currency: str | None) -> str:
    """An amount in ``currency`` with the decimals it is written with and thousands separators:
    "50,000.55 USD", "1,000 JPY", "1,250.500 BHD" (``currency`` None: no code, two decimals).
    The decimals are CLDR's (babel), which follow use: where ISO 4217 keeps minor units no
    longer in use (HUF, IDR, IQD, ...), CLDR writes none, as people there do.

    Never rounded: a value with more decimals than its currency has (10.005 USD, which the API
    stores and returns as sent) shows them all, since 10.01 or 10.00 would misstate what the
    DSP is asked for. The digits are the float's shortest form, the ones the API's JSON has."""
    if value is None:
        return "—"
    exact = Decimal(repr(float(value))).normalize()  # 1000.0 has no decimals: 1E+3
    minor = _UNSTATED_CURRENCY_DECIMALS if currency is None else get_currency_precision(currency)
    exponent = exact.as_tuple().exponent
    places = max(minor, -exponent if isinstance(exponent, int) else 0)
    text = f"{exact:,.{places}f}"
    return text if currency is None else f"{text} {currency}"


def plural(word: str, count: int, many: str = "") -> str:
    """``word`` as it reads after ``count``: "1 row", "2 rows" (``many`` when adding an s will
    not do: "1 URL matches", "2 URLs match" is ``plural("matches", n, "match")``)."""
    return word if count == 1 else (many or word + "s")


def counted(count: int, word: str, many: str = "") -> str:
    """``count`` with thousands separators and ``word`` agreeing with it: "1 row", "12,000 rows"."""
    return f"{_number(count)} {plural(word, count, many)}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _value_text(value: object) -> str:
    """A stored JSON value as a person reads it in the API: text as it is, anything else as JSON
    (``true``, ``{"a": [1, 2]}``), not Python's ``True`` and ``{'a': [1, 2]}``."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _iso(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc_text(value: datetime) -> str:
    return as_utc(value).strftime("%d %b %Y, %H:%M UTC")


templates = jinja2.Environment(
    loader=jinja2.PackageLoader("beacon.console", "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(number=_number, amount=_amount, money=_money, percent=_percent)
templates.filters.update(iso=_iso, utc_text=_utc_text, plural=plural, counted=counted)
templates.filters.update(value_text=_value_text)
# Stored domains and URL hosts are IDNA ASCII (xn--...): pages show them as people write them.
templates.filters.update(domain=idn.unicode_domain, display_url=idn.unicode_url)
templates.globals.update(static_version=__version__, allows=allows, Action=Action)


@dataclass(frozen=True)
class Viewer:
    """The signed-in person on a console page and the account they act in."""

    signed_in: sessions.SignedIn
    member: Member
    settings: Settings = field(repr=False)

    def can(self, action: Action) -> bool:
        """Whether the member's role allows ``action`` (to show or hide a control)."""
        return allows(self.member.role, action)


def session_timeouts(settings: Settings) -> sessions.Timeouts:
    """The configured idle and absolute session lifetimes."""
    return sessions.Timeouts(
        idle=timedelta(minutes=settings.console_session_idle_minutes),
        absolute=timedelta(hours=settings.console_session_max_hours),
    )


FORM_FIELDS = 10_000  # the contacts import posts two a CSV column (Starlette's default: 1,000)


async def read_form(request: Request) -> FormData:
    """The posted form, parsed once (Starlette caches it) and bounded by the request body limit:
    Starlette's own defaults of 1 MB a field and 1,000 fields refused the contacts import's
    mapping step, which posts the chosen file back (up to 5 MB) as a field and two fields a
    column."""
    settings: Settings = request.app.state.settings
    return await request.form(max_fields=FORM_FIELDS, max_part_size=settings.max_body_bytes)


async def submitted_csrf(request: Request) -> str:
    """The CSRF field of a state-changing form post ("" otherwise). Handlers without form
    parameters (sign out, archive) get no parsed form from FastAPI, so it is read here."""
    if request.method in ("GET", "HEAD"):
        return ""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return ""
    form = await read_form(request)
    if any(isinstance(v, str) and "\x00" in v for _, v in form.multi_items()):
        # A form field decodes %00 (or a multipart text part carries a raw NUL) after the body
        # check; refuse it here as everywhere, before SQLite stores what PostgreSQL refuses.
        raise ValidationFailed(NUL_MESSAGE)
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else ""


def current_session(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    settings: Annotated[Settings, Depends(get_app_settings)],
    submitted: Annotated[str, Depends(submitted_csrf)],
) -> sessions.SignedIn:
    """The live session of the request's cookie; otherwise ``SignInRequired``."""
    token = request.cookies.get(SESSION_COOKIE, "")
    with db.transaction() as session:
        signed_in = sessions.resume(
            session=session, token=token, timeouts=session_timeouts(settings)
        )
    if signed_in is None:
        raise SignInRequired("Sign in to continue")
    if request.method not in ("GET", "HEAD"):
        check_csrf(request, signed_in.csrf_token, submitted)
    return signed_in


def current_viewer(
    request: Request,
    signed_in: Annotated[sessions.SignedIn, Depends(current_session)],
    settings: Annotated[Settings, Depends(get_app_settings)],
) -> Viewer:
    """The member acting on this page; 403 when the person belongs to no account any more."""
    if signed_in.member is None:
        raise Forbidden("You are not a member of any account. Ask an admin to invite you.")
    return Viewer(signed_in, signed_in.member, settings)


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]
CurrentSession = Annotated[sessions.SignedIn, Depends(current_session)]


def check_csrf(request: Request, expected: str, submitted: str) -> None:
    """Refuse a state-changing request whose form field or X-CSRF-Token header is not ours."""
    presented = submitted or request.headers.get(CSRF_HEADER, "")
    if not expected or not presented or not secrets.compare_digest(presented, expected):
        raise CsrfRefused(
            "This form has expired or did not come from Beacon. Go back, reload the page "
            "and try again."
        )


def login_throttle(request: Request, settings: Settings) -> sessions.LoginThrottle:
    """The sign-in quotas every password check of the console counts against."""
    return sessions.LoginThrottle(
        limiter=request.app.state.rate_limiter,
        per_email=settings.console_login_limit_per_email,
        per_ip=settings.console_login_limit_per_ip,
    )


def login_csrf(request: Request) -> str:
    """The token of the signed-out forms (sign-in, accept invitation): a double-submit cookie.
    The browser's current one is kept, so that every open sign-in tab stays usable (a new
    token per form voided the forms of the other tabs)."""
    current = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if _LOGIN_CSRF_SHAPE.fullmatch(current):
        return current
    return secrets.token_urlsafe(24)


def secure_cookies(settings: Settings) -> bool:
    """Cookies are marked Secure when the public URL is https."""
    return bool(settings.public_url and settings.public_url.lower().startswith("https://"))


def set_cookie(
    response: Response, settings: Settings, name: str, value: str, *, max_age: int | None = None
) -> None:
    """An HttpOnly, SameSite=Lax cookie scoped to /app (without ``max_age``, a session cookie
    the browser drops when it closes)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(settings),
    )


def with_headers(response: Response) -> Response:
    """Add the console's security headers (CSP, no sniffing, no framing, no caching)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def download(
    request: Request, chunks: Iterator[str], *, media_type: str, filename: str
) -> Response:
    """A file streamed as ``chunks`` are made (an export read a page at a time), saved as
    ``filename``. A HEAD gets the same headers and never starts ``chunks``: Starlette would run
    the whole export for a body the server then drops."""
    if request.method == "HEAD":
        chunks = iter(())
    return with_headers(
        StreamingResponse(
            chunks,
            media_type=media_type,
            headers={"content-disposition": f'attachment; filename="{filename}"'},
        )
    )


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    viewer: Viewer | None = None,
    status: int = 200,
) -> HTMLResponse:
    """Render ``template`` with the page context every layout needs."""
    page = {
        "request_path": request.url.path,
        "viewer": viewer,
        "csrf_token": viewer.signed_in.csrf_token if viewer else "",
        "nav": _nav(viewer),
        "is_htmx": request.headers.get("hx-request") == "true",
        **(context or {}),
    }
    html = templates.get_template(template).render(page)
    return with_headers(HTMLResponse(html, status_code=status))  # type: ignore[return-value]


def redirect(url: str, *, request: Request | None = None) -> Response:
    """303 See Other to ``url`` (htmx requests get an HX-Redirect instead)."""
    if request is not None and request.headers.get("hx-request") == "true":
        return with_headers(Response(status_code=204, headers={"HX-Redirect": url}))
    return with_headers(RedirectResponse(url, status_code=303))


NOTICE_MAX = 300


def notice_query(viewer: Viewer, text: str) -> str:
    """The query string that carries a notice made here to the page a form redirects to: the
    text and its HMAC under the session's CSRF secret, so that only this server, for this
    session, puts words in a console notice (a link with ``?notice=...`` shows nothing)."""
    text = text[:NOTICE_MAX]
    return urlencode({"notice": text, "notice_sig": _notice_sig(viewer, text)})


def notice_of(request: Request, viewer: Viewer) -> str:
    """The notice ``notice_query`` carried to this request, or '' (absent, or not ours)."""
    text = request.query_params.get("notice", "")[:NOTICE_MAX]
    signature = request.query_params.get("notice_sig", "")
    return text if text and hmac.compare_digest(signature, _notice_sig(viewer, text)) else ""


def _notice_sig(viewer: Viewer, text: str) -> str:
    key = viewer.signed_in.csrf_token.encode()
    return hmac.new(key, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]


def login_url(next_path: str) -> str:
    """The sign-in form, coming back to ``next_path`` afterwards."""
    return f"{PREFIX}/login?next={quote(next_path, safe='/')}"


def safe_next(value: str | None) -> str:
    """A post-sign-in destination inside the console (never another site)."""
    if (
        value
        and value.startswith(PREFIX + "/")
        and not value.startswith("//")
        and "\\" not in value
    ):
        return value
    return PREFIX + "/"


def _nav(viewer: Viewer | None) -> list[Any]:
    from beacon.console.pages import nav_sections

    return nav_sections(viewer) if viewer is not None else []


def error_page(scope: Any, error: APIError, request_id: str) -> Response:
    """An /app error as an HTML page (sign-in required: a redirect to the sign-in form)."""
    request = Request(scope)
    if isinstance(error, SignInRequired):
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect(
            login_url(path if request.method in ("GET", "HEAD") else PREFIX + "/"),
            request=request,
        )
    titles = {403: "You cannot do that", 404: "Page not found", 429: "Too many requests"}
    title = titles.get(error.status, "Something went wrong")
    html = templates.get_template("error.html").render(
        request_path=request.url.path,
        viewer=None,
        csrf_token="",
        nav=[],
        is_htmx=False,
        title=title,
        status=error.status,
        message=error.message,
        request_id=request_id,
    )
    response = HTMLResponse(html, status_code=error.status, headers=dict(error.headers))
    return with_headers(response)


_FRIENDLY = {
    "missing": "Enter {label}",
    "string_too_short": "Enter {label}",
    "string_pattern_mismatch": "Enter {label}",
    "string_too_long": "{Label} must be {max_length} characters or fewer",
    "enum": "Choose {label}",
}


def service_error(exc: ValidationFailed, default: str) -> dict[str, str]:
    """A service's 422 as {field: problem}: an ``InvalidValue`` at its field's form name
    (``kpis[0].target`` is the form's ``kpis``), any other refusal whole under ``default``."""
    if not isinstance(exc, InvalidValue):
        return {default: exc.message}
    name = re.split(r"[.\[]", exc.field, maxsplit=1)[0]
    return {name: exc.problem}


def form_errors(
    exc: Any, labels: dict[str, str], messages: dict[str, str] | None = None
) -> dict[str, str]:
    """A pydantic ``ValidationError`` as {field: message} in the words of the form's labels
    (``messages`` gives a field one message whatever its error)."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "form"
        if messages and name in messages:
            errors.setdefault(name, messages[name])
            continue
        label = labels.get(name, name.replace("_", " "))
        kind = error["type"]
        if kind == "value_error" and "empty" in str(error.get("msg", "")):
            kind = "missing"
        template = _FRIENDLY.get(kind)
        ctx = error.get("ctx") or {}
        if template:
            message = template.format(label=label, Label=label[:1].upper() + label[1:], **ctx)
        else:
            message = f"{label[:1].upper() + label[1:]}: {value_reason(error)}"
        errors.setdefault(name, message)
    return errors
