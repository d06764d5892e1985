"""Message rendering with Jinja2's sandbox: strict undefined variables, time and size guards.

This module is what runs *inside* the render worker processes (``render_pool``): the server
never renders a tenant's template in its own process. The hard limits (CPU time, address
space, wall time) are the pool's; the guards here are the cheap first line that turns the
common runaway cases into a clear message without killing a worker.

Jinja2's sandbox blocks Python internals (``__class__``, ``__globals__`` ...) but bounds
neither time nor memory. The environment below adds: a render deadline checked as loops
iterate and on every call, a real ``range`` limit, and caps on the operators and filters that
multiply sizes in one step (``'x' * n``, ``9 ** n``, ``|center(n)``, ``'x'.ljust(n)``).

A contact field that is null or missing is *undefined*: printing it fails the render and names
the field, unless the template gives a default (``{{ contact.firstName | default("there") }}``)
or tests it (``{% if contact.firstName %}``).
"""

from __future__ import annotations

import contextvars
import functools
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, meta, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import missing

from beacon.core.errors import MAX_QUOTED_CHARS, clipped, quoted

MAX_OUTPUT_CHARS = 1_000_000
MAX_RENDER_SECONDS = 2.0
MAX_RANGE = 10_000
MAX_POWER_BITS = 100_000

# The parts of each channel's content that are templates (the rest are plain values).
TEMPLATED_PARTS: dict[str, tuple[str, ...]] = {
    "email": ("subject", "html", "text", "fromName"),
    "sms": ("body",),
    "direct_mail": ("html", "addressBlock"),
}
HTML_PARTS = frozenset({"html"})
CONTACT_FIELDS = ("id", "externalId", "email", "phone", "firstName", "lastName")


class RenderError(Exception):
    """A template that does not compile or render; ``part`` names the content field (empty
    when it is not known: a render process killed by a limit)."""

    def __init__(self, part: str, message: str) -> None:
        super().__init__(f"{part}: {message}" if part else message)
        self.part = part
        self.message = message


LIMIT_MESSAGE = "template exceeded its time/memory limit"


class RenderLimitExceeded(RenderError):
    """A render stopped by a limit; ``limit`` is ``time``, ``memory`` or ``size``."""

    def __init__(self, part: str, detail: str, *, limit: str) -> None:
        super().__init__(part, f"{LIMIT_MESSAGE} ({detail})")
        self.detail, self.limit = detail, limit


class _LimitExceeded(Exception):
    """A template went over a time or size limit (reported as a RenderLimitExceeded)."""

    def __init__(self, detail: str, limit: str = "size") -> None:
        super().__init__(detail)
        self.limit = limit


class _Fields(dict[str, Any]):
    """A record's fields without its nulls, knowing its own path (``contact.address``) so an
    undefined field is reported by name."""

    __slots__ = ("_beacon_path",)

    def __init__(self, path: str, values: Mapping[str, Any]) -> None:
        super().__init__(
            (key, _fields(f"{path}.{key}", value))
            for key, value in values.items()
            if value is not None
        )
        self._beacon_path = path


def _fields(path: str, value: Any) -> Any:
    return _Fields(path, value) if isinstance(value, Mapping) else value


class _Undefined(StrictUndefined):
    """Strict: printing, iterating or computing with a missing value fails, naming it. Truth
    testing is allowed (falsy), so ``{% if contact.firstName %}`` works as a guard."""

    __slots__ = ()

    def __bool__(self) -> bool:  # type: ignore[override]
        return False

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        path = getattr(self._undefined_obj, "_beacon_path", None)
        if self._undefined_obj is missing or path is not None:
            name = f"{path}.{self._undefined_name}" if path else str(self._undefined_name)
            # The name is the template author's text: quoted (cut when long), and the
            # suggested default spells it only when it is short enough to read.
            shown = name if len(name) <= MAX_QUOTED_CHARS else "..."
            return (
                f"{quoted(name)} is undefined (null or missing); "
                f'give a default: {{{{ {shown} | default("...") }}}}'
            )
        return clipped(super()._undefined_message, MAX_LIBRARY_MESSAGE_CHARS)


# A library's message (Jinja's, an exception's) that names template text is cut past this: long
# enough for Beacon's own undefined-variable message (~290 characters) to stay whole.
MAX_LIBRARY_MESSAGE_CHARS = 400

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "beacon_render_deadline", default=None
)
_LOOP_GUARD = "_beacon_loop_guard"
# Filters and str methods whose integer arguments size their result.
_SIZING_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "slice", "batch"})
_SIZING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def _check_deadline() -> None:
    deadline = _DEADLINE.get()
    if deadline is not None and time.monotonic() > deadline:
        raise _LimitExceeded(f"rendering took longer than {MAX_RENDER_SECONDS} s", "time")


def _check_sizes(values: Iterable[Any]) -> None:
    for value in values:
        if isinstance(value, int) and value > MAX_OUTPUT_CHARS:
            raise _LimitExceeded(f"size argument {value} exceeds {MAX_OUTPUT_CHARS}")


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise _LimitExceeded(f"range() of {len(numbers)} items exceeds {MAX_RANGE}")
    return numbers


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1:
        if right * abs(left).bit_length() > MAX_POWER_BITS:
            raise _LimitExceeded(f"{left} ** {right} is too large")
    elif operator == "*":
        sized, times = (left, right) if isinstance(right, int) else (right, left)
        sequence = isinstance(sized, str | list | tuple) and isinstance(times, int)
        if sequence and len(sized) * times > MAX_OUTPUT_CHARS:
            raise _LimitExceeded(f"repetition exceeds {MAX_OUTPUT_CHARS} items")


def _loop_guard(iterable: Iterable[Any]) -> Iterator[Any]:
    for count, item in enumerate(iterable):
        if not count & 255:
            _check_deadline()
        yield item


def _sizing_filter(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)  # keeps Jinja's pass_environment/pass_context markers
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _check_sizes([*args, *kwargs.values()])
        return func(*args, **kwargs)

    return guarded


class _GuardedCodeGenerator(CodeGenerator):
    """Compiles every ``{% for %}`` to iterate through `_loop_guard` (the deadline check)."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for loop in node.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, _LOOP_GUARD, [], [], None, None)
            loop.iter.set_lineno(loop.lineno)
        super().visit_Template(node, frame)


class _Environment(SandboxedEnvironment):
    code_generator_class = _GuardedCodeGenerator
    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _bounded_range
        for name in _SIZING_FILTERS:
            self.filters[name] = _sizing_filter(self.filters[name])
        self.filters[_LOOP_GUARD] = _loop_guard

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check_deadline()
        if isinstance(getattr(__obj, "__self__", None), str) and (
            getattr(__obj, "__name__", "") in _SIZING_METHODS
        ):
            _check_sizes([*args, *kwargs.values()])
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_deadline()
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)


_TEXT = _Environment(undefined=_Undefined, autoescape=False)
_HTML = _Environment(undefined=_Undefined, autoescape=True)


def _env(part: str) -> SandboxedEnvironment:
    return _HTML if part in HTML_PARTS else _TEXT


def check_syntax(*, part: str, source: str) -> None:
    """Raise RenderError when ``source`` is not a valid template."""
    try:
        _env(part).parse(source)
    except TemplateError as exc:
        raise RenderError(
            part, _at_line(str(exc.message or exc), getattr(exc, "lineno", None))
        ) from None
    except RecursionError:
        raise RenderError(part, "the template is nested too deeply") from None


def variables(*, part: str, source: str) -> set[str]:
    """Top-level variables a template uses (``contact``, ``unsubscribe_url`` ...)."""
    try:
        return set(meta.find_undeclared_variables(_env(part).parse(source)))
    except (TemplateError, RecursionError):
        return set()  # refused when it was written; nothing to report


def _at_line(message: str, line: int | None) -> str:
    """``message (line N)``: where in the part's source the error is (1-based). Jinja's and a
    template's own messages name the author's text (a tag, a filter, an attribute): cut when
    long, as any echo of client text is."""
    message = clipped(message, MAX_LIBRARY_MESSAGE_CHARS)
    return f"{message} (line {line})" if line else message


def _template_line(exc: BaseException) -> int | None:
    """The template line an error was raised at: Jinja2 rewrites a render's traceback so that
    its template frames carry the template's own line numbers."""
    line = getattr(exc, "lineno", None)
    frame = exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_filename == "<template>":
            line = frame.tb_lineno
        frame = frame.tb_next
    return line if isinstance(line, int) else None


def fields_used(*, part: str, source: str) -> list[str]:
    """The variables a template prints or tests, as dotted paths (``contact.firstName``,
    ``contact.attributes.plan``, ``unsubscribe_url``), sorted; [] when it does not parse."""
    try:
        tree = _env(part).parse(source)
    except (TemplateError, RecursionError):
        return []
    top = meta.find_undeclared_variables(tree)
    found: set[str] = set()
    inner: set[int] = set()  # Getattr nodes that are part of a longer path
    for access in tree.find_all((nodes.Getattr, nodes.Getitem)):
        head = getattr(access, "node", None)
        if isinstance(head, (nodes.Getattr, nodes.Getitem)):
            inner.add(id(head))
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        if id(node) in inner:
            continue
        path = _path(node)
        if path and path.split(".")[0] in top:
            found.add(path)
    # A bare name that only appears as the head of a longer path is not listed on its own.
    return sorted(p for p in found if not any(o.startswith(p + ".") for o in found))


def _path(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        head = _path(node.node)
        return f"{head}.{node.attr}" if head else None
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        head = _path(node.node)
        return f"{head}.{node.arg.value}" if head else None
    return None


def _compile(part: str, source: str) -> Template:
    try:
        return _env(part).from_string(source)
    except TemplateError as exc:
        raise RenderError(part, _at_line(str(exc.message or exc), _template_line(exc))) from None
    except RecursionError:
        raise RenderError(part, "the template is nested too deeply") from None


def render_part(*, part: str, source: str, context: Mapping[str, Any]) -> str:
    """Render one template, refusing undefined variables, slow renders and huge output."""
    return _render(part, _compile(part, source), context)


def _render(part: str, template: Template, context: Mapping[str, Any]) -> str:
    size = 0
    chunks: list[str] = []
    deadline = _DEADLINE.set(time.monotonic() + MAX_RENDER_SECONDS)
    try:
        for chunk in template.generate(dict(context)):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise _LimitExceeded(f"output exceeds {MAX_OUTPUT_CHARS} characters")
            _check_deadline()
            chunks.append(chunk)
    except RenderError:
        raise
    except MemoryError:  # the address-space limit: the render process reports it and ends
        raise RenderLimitExceeded(part, "over the address-space limit", limit="memory") from None
    except _LimitExceeded as exc:
        raise RenderLimitExceeded(part, str(exc), limit=exc.limit) from None
    except TemplateError as exc:
        raise RenderError(part, _at_line(str(exc.message or exc), _template_line(exc))) from None
    except Exception as exc:  # a template can raise anything (1/0, bad filters): report it
        message = f"{type(exc).__name__}: {exc}"
        raise RenderError(part, _at_line(message, _template_line(exc))) from None
    finally:
        _DEADLINE.reset(deadline)
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


class CompiledMessage:
    """A channel's content compiled once and rendered for many recipients (the compose stage
    of an execution): compiling costs far more than rendering, and a part that uses no
    variable (a fixed sender name, say) is rendered once for everyone."""

    def __init__(self, *, channel: str, content: Mapping[str, Any]) -> None:
        self._templates: dict[str, Template] = {}
        self._plain: dict[str, str | None] = {}
        for key, value in content.items():
            if key in TEMPLATED_PARTS[channel] and isinstance(value, str):
                template = _compile(key, value)
                if variables(part=key, source=value):
                    self._templates[key] = template
                else:
                    self._plain[key] = _render(key, template, {})
            else:
                self._plain[key] = value

    def render(self, context: Mapping[str, Any]) -> dict[str, str | None]:
        """Every part rendered for one recipient; raises RenderError."""
        rendered = dict(self._plain)
        for key, template in self._templates.items():
            rendered[key] = _render(key, template, context)
        return rendered


def _document(value: Any) -> Any:
    if isinstance(value, str):
        value = json.loads(value)
    return value or {}


def contact_context(
    contact: Mapping[str, Any], *, unsubscribe_url: str | None = None
) -> dict[str, Any]:
    """Template variables for a contact given in its wire (camelCase) form.

    Templates see ``contact.firstName``, ``contact.attributes.plan``, ``contact.address.city``
    ... and, for email, ``unsubscribe_url``. Null fields are left out, so they are undefined.
    ``address`` and ``attributes`` are objects, or their JSON text as stored: a send reads
    them as text and leaves the decoding to the render process, off the worker's thread.
    """
    fields = {key: contact.get(key) for key in CONTACT_FIELDS}
    fields["address"] = _document(contact.get("address"))
    fields["attributes"] = _document(contact.get("attributes"))
    variables_: dict[str, Any] = {"contact": _Fields("contact", fields)}
    if unsubscribe_url is not None:
        variables_["unsubscribe_url"] = unsubscribe_url
    return variables_
