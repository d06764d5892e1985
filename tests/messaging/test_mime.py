"""The email wire form built in the render processes (`templates.mime`), read back with the
standard library's parser: headers, From with and without a sender name, bodies."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import cast

from beacon.messaging.templates.mime import EmailBuilder, Envelope

ENVELOPE = Envelope(
    sender="news@acme.example",
    domain="acme.example",
    date="Fri, 04 Dec 2026 23:00:00 +0000",
    execution_tag="e1",
    reply_to="help@acme.example",
    recipient_ids=(7, 8),
)
LINK = "https://beacon.example/u/abc"


def parsed(data: bytes) -> EmailMessage:
    return cast(EmailMessage, message_from_bytes(data, policy=policy.default))


def test_from_is_the_sender_without_a_name_on_the_first_message_too() -> None:
    builder = EmailBuilder(ENVELOPE)
    first = parsed(
        builder.build({"subject": "Hi", "text": "x"}, recipient_id=7, to="a@b.c", link=LINK)
    )
    assert first["From"] == "news@acme.example"
    named = parsed(
        builder.build(
            {"subject": "Hi", "text": "x", "fromName": "Acme News"},
            recipient_id=8,
            to="d@b.c",
            link=LINK,
        )
    )
    assert named["From"] == "Acme News <news@acme.example>"
    again = parsed(
        builder.build({"subject": "Hi", "text": "x"}, recipient_id=7, to="a@b.c", link=LINK)
    )
    assert again["From"] == "news@acme.example"


def test_headers_and_a_multipart_body() -> None:
    data = EmailBuilder(ENVELOPE).build(
        {"subject": "Grüße\nBcc: evil@x.y", "text": "plain é", "html": "<p>html é</p>"},
        recipient_id=7,
        to="ada@example.com",
        link=LINK,
    )
    message = parsed(data)
    assert message["Subject"] == "Grüße Bcc: evil@x.y"  # one line: no header injected
    assert message["Bcc"] is None
    assert message["To"] == "ada@example.com"
    assert message["Message-ID"] == "<7.e1@acme.example>"
    assert message["Reply-To"] == "help@acme.example"
    assert message["List-Unsubscribe"] == f"<{LINK}>"
    assert message.get_content_type() == "multipart/alternative"
    plain, html = (part.get_content() for part in message.iter_parts())
    assert plain.strip() == "plain é"
    assert html.strip() == "<p>html é</p>"


def test_a_long_sender_name_keeps_the_address_and_its_lines_short() -> None:
    # A rendered fromName of 200 emoji (a 200-character template, or a contact's field) is
    # 800 bytes: its one encoded word passed 900 characters and was encoded a second time,
    # address included, so the From header had no address a mail server could read.
    for name in ("😀" * 200, "Acme " * 190, "Zoë, Ann & Co. " * 60):
        data = EmailBuilder(ENVELOPE).build(
            {"subject": "Hi", "text": "x", "fromName": name},
            recipient_id=7,
            to="a@b.c",
            link=LINK,
        )
        sender = parsed(data)["From"]
        assert sender.addresses[0].addr_spec == "news@acme.example"
        # the policy's parser puts a space between adjacent encoded words, RFC 2047 none
        shown = sender.addresses[0].display_name
        assert shown.replace(" ", "") == name.replace(" ", "")
        head = data.split(b"\r\n\r\n", 1)[0]
        assert max(len(line) for line in head.split(b"\r\n")) <= 998
