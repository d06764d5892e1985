"""Render errors say at which line of the part they happened; a template's variables are listed
as the dotted paths it uses."""

from __future__ import annotations

import pytest

from beacon.messaging.templates import rendering
from beacon.messaging.templates import service as templates
from beacon.messaging.templates.rendering import (
    RenderError,
    contact_context,
    fields_used,
    render_part,
)

CONTEXT = contact_context({"firstName": "Ada", "attributes": {"plan": "pro"}}, unsubscribe_url="u")


@pytest.mark.parametrize(
    ("source", "line", "says"),
    [
        ("one\ntwo\n{{ contact.nickname }}\nfour", 3, "'contact.nickname' is undefined"),
        ("one\n{{ contact.firstName", 2, "unexpected end of template"),
        ("{% for k in contact.attributes %}\n{{ 1 / 0 }}{% endfor %}", 2, "ZeroDivisionError"),
        ("{{ contact.lastName }}", 1, "'contact.lastName' is undefined"),
        (  # the author's long name, cut (it was echoed whole, twice)
            "{{ contact." + "n" * 3000 + " }}",
            1,
            "'contact." + "n" * 92 + "…' (3008 characters) is undefined (null or missing); "
            'give a default: {{ ... | default("...") }}',
        ),
    ],
)
def test_a_render_error_names_its_line(source: str, line: int, says: str) -> None:
    with pytest.raises(RenderError) as raised:
        render_part(part="html", source=source, context=CONTEXT)
    assert says in raised.value.message
    assert raised.value.message.endswith(f"(line {line})")


def test_fields_used_are_dotted_paths_of_the_templates_own_variables() -> None:
    source = (
        "{{ contact.firstName }} {{ contact['lastName'] }} {{ contact.attributes.plan }}"
        "{% for x in contact.attributes %}{{ x }}{% endfor %}{% if contact.email %}"
        "{{ unsubscribe_url }}{% endif %}"
    )
    assert fields_used(part="html", source=source) == [
        "contact.attributes.plan",
        "contact.email",
        "contact.firstName",
        "contact.lastName",
        "unsubscribe_url",
    ]
    assert fields_used(part="html", source="{{ broken") == []
    assert templates.fields_by_part(
        "email", {"subject": "Hi {{ contact.firstName }}", "text": "plain", "fromAddress": "a@b.c"}
    ) == {"subject": ["contact.firstName"]}


@pytest.mark.parametrize(
    ("source", "check"),
    [
        ("{% " + "x" * 3000 + " %}", "syntax"),  # Jinja names the unknown tag
        ("{{ a " + "b" * 3000 + " }}", "syntax"),  # and the unexpected name
        ("{{ contact.firstName." + "q" * 3000 + "() }}", "render"),  # a str has no such method
        ("{{ contact|" + "f" * 3000 + " }}", "render"),  # no filter of that name
    ],
)
def test_a_library_message_naming_a_long_author_text_is_cut(source: str, check: str) -> None:
    """Jinja's messages repeat the author's names: a 3,000-character one was answered (and
    stored as each failed recipient's reason) whole."""
    with pytest.raises(RenderError) as raised:
        if check == "syntax":
            rendering.check_syntax(part="html", source=source)
        else:
            render_part(part="html", source=source, context=CONTEXT)
    message = raised.value.message
    assert len(message) < 500, message
    assert "characters)" in message and message.endswith("(line 1)")
