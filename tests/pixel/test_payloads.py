"""Payload readers: the fast query decoding decodes exactly as the standard library does."""

from __future__ import annotations

import itertools
from urllib.parse import parse_qsl, quote

from beacon.pixel.payloads import query_fields

PIECES = ["%", "2", "F", "f", "3A", "%2F", "%3a", "%25", "%C3%A9", "%E2%82", "%20", "+", "x"]


def test_query_fields_decode_like_parse_qsl() -> None:
    page = "https://www.example.co.uk/a b/é?x=1&y=%2F#top"
    queries = [f"url={quote(page, safe='')}&page_url={quote(quote(page, safe=''), safe='')}"]
    # Every short mix of escapes, broken escapes and plus signs, as a value.
    queries += [
        "v=" + "".join(mix) for size in (1, 2, 3) for mix in itertools.product(PIECES, repeat=size)
    ]
    for query in queries:
        assert query_fields(query) == parse_qsl(query, errors="replace"), query
