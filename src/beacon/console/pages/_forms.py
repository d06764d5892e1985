"""The posted form as a dependency, so that handlers stay synchronous (FastAPI runs them in
its thread pool) while reading repeated fields and files: service calls that scan the
inventory must not run on the event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from beacon.console import web
from beacon.people import form_nonces

T = TypeVar("T")
STALE_FORM = "This form was out of date: nothing was created. Create again from this page."


async def posted_form(request: Request) -> AsyncIterator[FormData]:
    """The parsed form of the request (``web.read_form``; Starlette caches it for the CSRF
    check too); its uploaded files are closed after the response (FastAPI closes only the
    forms it parses)."""
    form = await web.read_form(request)
    try:
        yield form
    finally:
        await form.close()


PostedForm = Annotated[FormData, Depends(posted_form)]


def text(form: FormData, name: str) -> str:
    """A text field, stripped ("" when absent or a file)."""
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def texts(form: FormData, name: str) -> list[str]:
    """Every value of a repeated text field (checkboxes)."""
    return [v for v in form.getlist(name) if isinstance(v, str)]


def upload(form: FormData, name: str, limit: int) -> tuple[str, bytes] | None:
    """(file name, up to ``limit`` + 1 bytes) of a chosen file, None when no file was chosen."""
    value = form.get(name)
    if not isinstance(value, UploadFile) or not value.filename:
        return None
    return value.filename, value.file.read(limit + 1)


SECRET_MAX = 1_000  # characters of a posted password: more is a paste gone wrong, not a secret


def too_long_secrets(**fields: str) -> dict[str, str]:
    """{field: message} for each password over ``SECRET_MAX`` characters: checked by the form
    handler (FastAPI's own ``max_length`` refusal was a generic error page), before any hash."""
    message = f"Enter a password of at most {SECRET_MAX:,} characters"
    return {name: message for name, value in fields.items() if len(value) > SECRET_MAX}


def once(
    *,
    session: Session,
    viewer: web.Viewer,
    nonce: str,
    create: Callable[[], T],
    describe: Callable[[T], str],
) -> T | form_nonces.NotCreated:
    """``create()`` once per rendered create form (``people.form_nonces``, its hidden
    ``form_nonce``): posted again (a double click, a reload, the back button) it creates nothing
    and the ``NotCreated`` names what the first post made (``describe``: the id its page opens
    with), or nothing when the nonce is malformed (show ``STALE_FORM``). A post without a nonce
    creates, as before the forms carried one."""
    if not nonce:
        return create()
    return form_nonces.once(
        session=session,
        console_session_id=viewer.signed_in.session_id,
        nonce=nonce,
        create=create,
        describe=describe,
    )
