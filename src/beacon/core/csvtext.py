"""Reading CSV uploads: one way to open the text and one answer for malformed input."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager

from beacon.core.errors import NUL_MESSAGE, WIDE_TEXT_MESSAGE, BadRequest, ValidationFailed

# The byte-order marks of UTF-16 and UTF-32 text (an Excel "Unicode text" export).
WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


def upload_text(raw: bytes, *, what: str = "The upload") -> str:
    """An uploaded file's bytes as text: UTF-8 (a leading BOM dropped), else a 400 naming the
    encoding when it is a wide one, as ``core.http`` answers the same bytes sent as the body;
    a NUL is refused as in every other body (multipart files reach here unchecked)."""
    if raw.startswith(WIDE_BOMS):
        raise BadRequest(WIDE_TEXT_MESSAGE)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest(f"{what} is not UTF-8 text") from None
    if "\x00" in text:
        raise ValidationFailed(NUL_MESSAGE)
    return text


def csv_source(text: str) -> io.StringIO:
    """``text`` as the csv module wants it: newlines left to the parser (quoted fields may
    hold line breaks; a stray CR or U+0085 in an unquoted field is then a clear error). A NUL is
    refused: an uploaded file's bytes reach here unchecked (``core.http`` leaves multipart
    bodies to their readers)."""
    if "\x00" in text:
        raise ValidationFailed(NUL_MESSAGE)
    return io.StringIO(text, newline="")


# OWASP CSV injection guidance: a spreadsheet evaluates a cell beginning with one of these
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """``cell`` as plain text to a spreadsheet: a leading formula character is quoted away."""
    return "'" + cell if cell.startswith(FORMULA_TRIGGERS) else cell


@contextmanager
def csv_errors_as_bad_request() -> Iterator[None]:
    """Turn the csv module's parse errors into a 400 naming the problem."""
    try:
        yield
    except csv.Error as exc:
        raise BadRequest(f"Malformed CSV: {exc}") from None
