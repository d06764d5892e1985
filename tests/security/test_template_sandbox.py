"""Templates are tenant code run by the server: reaching Python internals, or burning time or
memory, fails the render cleanly (a 422 in the envelope, never a 500, never data)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from beacon.messaging.templates import rendering

API = "/public/v1"

ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ contact.__class__ }}",
    "{{ contact['__class__'] }}",
    "{{ contact|attr('__class__') }}",
    "{{ contact.items.__self__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ '{0.__class__.__mro__}'.format(contact) }}",
    "{{ config }}{{ request }}{{ settings }}",
]
EXHAUSTION = [
    "{{ range(10**9)|list }}",
    "{% for i in range(10**6) %}{% endfor %}",
    "{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}",
    "{% set s = 'x' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
    "{{ 'x' * 10**9 }}",
    "{{ [0] * 10**9 }}",
    "{{ (9 ** 999999999) > 1 }}",
    "{{ 'x'|center(10**10) }}",
    "{{ 'x'.ljust(10**10) }}",
    "{{ range(3)|slice(10**9)|list }}",
    "{% macro boom(n) %}{{ boom(n) }}{{ boom(n) }}{% endmacro %}{{ boom(1) }}",
]
# What leaks when a sandbox escape works: reprs of Python objects and module contents.
LEAK_MARKERS = ("<class", "<function", "<built-in", "<module", " at 0x", "__builtins__", "posix")


@pytest.fixture(autouse=True)
def quick_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The render deadline is what stops a runaway loop; keep it short here."""
    monkeypatch.setattr(rendering, "MAX_RENDER_SECONDS", 0.25)


@pytest.mark.parametrize("part", ["text", "html"])
@pytest.mark.parametrize("source", ESCAPES + EXHAUSTION)
def test_rendering_module_refuses(source: str, part: str) -> None:
    started = time.monotonic()
    with pytest.raises(rendering.RenderError) as caught:
        rendering.render_part(
            part=part, source=source, context=rendering.contact_context({"firstName": "Ada"})
        )
    assert time.monotonic() - started < 2.0
    assert caught.value.part == part
    assert not any(marker in caught.value.message for marker in LEAK_MARKERS)


def test_ordinary_templates_still_render() -> None:
    source = (
        "{% for k, v in contact.attributes|dictsort %}{{ k }}={{ v }}"
        "{% if not loop.last %},{% endif %}{% else %}none{% endfor %}|{{ 'ab' * 2 }}"
        "|{{ 2 ** 10 }}|{{ range(3)|list }}|{{ contact.firstName|center(7) }}"
        "|{{ '{:,}'.format(1234567) }}|{{ contact.firstName.ljust(4, '.') }}"
    )
    context = rendering.contact_context({"firstName": "Ada", "attributes": {"b": 2, "a": 1}})
    assert rendering.render_part(part="text", source=source, context=context) == (
        "a=1,b=2|abab|1024|[0, 1, 2]|  Ada  |1,234,567|Ada."
    )


def _sms_template(client: TestClient, auth: dict[str, str], body: str) -> str:
    response = client.post(
        f"{API}/templates",
        headers=auth,
        json={"name": "probe", "channel": "sms", "status": "draft", "content": {"body": body}},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def _render(client: TestClient, auth: dict[str, str], template_id: str) -> Any:
    return client.post(
        f"{API}/templates/{template_id}/render",
        headers=auth,
        json={"contact": {"externalId": "c1", "firstName": "Ada"}},
    )


def test_render_endpoint_answers_422_without_data(
    client: TestClient, bearer_for: Callable[..., dict[str, str]]
) -> None:
    auth = bearer_for("tenant")
    for source in ESCAPES[::2] + EXHAUSTION[::2]:  # all of them are rendered above
        response = _render(client, auth, _sms_template(client, auth, source))
        assert response.status_code == 422, (source, response.text)
        payload = response.json()
        assert payload["success"] is False, source
        assert payload["error"]["code"] == "TEMPLATE_RENDER_FAILED", source
        assert payload["error"]["details"]["field"] == "content.body"
        assert not any(marker in response.text for marker in LEAK_MARKERS), response.text

    fine = _render(client, auth, _sms_template(client, auth, "Hi {{ contact.firstName }}"))
    assert fine.status_code == 200, fine.text
    assert fine.json()["data"]["rendered"]["body"] == "Hi Ada"
