"""Message rendering with Jinja2's sandbox: strict undefined variables, time and size guards.

Used for proofs, preflight and (part 2) the execution engine's compose stage.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment

MAX_OUTPUT_CHARS = 1_000_000
MAX_RENDER_SECONDS = 2.0

# The parts of each channel's content that are templates (the rest are plain values).
TEMPLATED_PARTS: dict[str, tuple[str, ...]] = {
    "email": ("subject", "html", "text", "fromName"),
    "sms": ("body",),
    "direct_mail": ("html", "addressBlock"),
}
HTML_PARTS = frozenset({"html"})


class RenderError(Exception):
    """A template that does not compile or render; ``part`` names the content field."""

    def __init__(self, part: str, message: str) -> None:
        super().__init__(f"{part}: {message}")
        self.part = part
        self.message = message


class _Environment(SandboxedEnvironment):
    # Bounds loops such as {% for i in range(10**9) %}.
    MAX_RANGE = 10_000


_TEXT = _Environment(undefined=StrictUndefined, autoescape=False)
_HTML = _Environment(undefined=StrictUndefined, autoescape=True)


def _env(part: str) -> SandboxedEnvironment:
    return _HTML if part in HTML_PARTS else _TEXT


def check_syntax(*, part: str, source: str) -> None:
    """Raise RenderError when ``source`` is not a valid template."""
    try:
        _env(part).parse(source)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        raise RenderError(part, f"{exc.message or exc} (line {line})") from None


def variables(*, part: str, source: str) -> set[str]:
    """Top-level variables a template uses (``contact``, ``unsubscribe_url`` ...)."""
    return set(meta.find_undeclared_variables(_env(part).parse(source)))


def render_part(*, part: str, source: str, context: Mapping[str, Any]) -> str:
    """Render one template, refusing undefined variables, slow renders and huge output."""
    started = time.monotonic()
    size = 0
    chunks: list[str] = []
    try:
        for chunk in _env(part).from_string(source).generate(dict(context)):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise RenderError(part, f"output exceeds {MAX_OUTPUT_CHARS} characters")
            if time.monotonic() - started > MAX_RENDER_SECONDS:
                raise RenderError(part, f"rendering took longer than {MAX_RENDER_SECONDS} s")
            chunks.append(chunk)
    except RenderError:
        raise
    except TemplateError as exc:
        raise RenderError(part, str(exc.message or exc)) from None
    except Exception as exc:  # a template can raise anything (1/0, bad filters): report it
        raise RenderError(part, f"{type(exc).__name__}: {exc}") from None
    return "".join(chunks)


def render_message(
    *, channel: str, content: Mapping[str, Any], context: Mapping[str, Any]
) -> dict[str, str | None]:
    """Render every templated part of a channel's content; other parts are copied."""
    rendered: dict[str, str | None] = {}
    for key, value in content.items():
        if key in TEMPLATED_PARTS[channel] and isinstance(value, str):
            rendered[key] = render_part(part=key, source=value, context=context)
        else:
            rendered[key] = value
    return rendered


def contact_context(
    contact: Mapping[str, Any], *, unsubscribe_url: str | None = None
) -> dict[str, Any]:
    """Template variables for a contact given in its wire (camelCase) form.

    Templates see ``contact.firstName``, ``contact.attributes.plan``, ``contact.address.city``
    ... and, for email, ``unsubscribe_url``.
    """
    variables_: dict[str, Any] = {
        "contact": {
            "id": contact.get("id"),
            "externalId": contact.get("externalId"),
            "email": contact.get("email"),
            "phone": contact.get("phone"),
            "firstName": contact.get("firstName"),
            "lastName": contact.get("lastName"),
            "address": dict(contact.get("address") or {}),
            "attributes": dict(contact.get("attributes") or {}),
        }
    }
    if unsubscribe_url is not None:
        variables_["unsubscribe_url"] = unsubscribe_url
    return variables_
