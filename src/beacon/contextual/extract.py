"""Main text, title, description and language of an HTML page (trafilatura)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import trafilatura
from lxml.html import HtmlElement
from trafilatura.settings import Document
from trafilatura.utils import load_html

from beacon.contextual import language

_WS_RE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Extracted:
    """What the classifier reads from a page."""

    title: str
    description: str
    text: str
    language: str | None  # see language.detect: content first, <html lang> as a hint


def _first(tree: HtmlElement, *xpaths: str) -> str:
    for xpath in xpaths:
        for value in tree.xpath(xpath):
            cleaned = _WS_RE.sub(" ", str(value)).strip()
            if cleaned:
                return cleaned
    return ""


def _declared_language(tree: HtmlElement) -> str:
    return _first(tree, "/html/@lang", "//meta[@http-equiv='content-language']/@content")


def extract(*, html: str, url: str) -> Extracted:
    """Extract the readable article; navigation, footers and comments are dropped."""
    tree = load_html(html)
    if tree is None:
        return Extracted("", "", "", None)
    # Read metadata before trafilatura prunes the tree; its own metadata pass also runs date
    # extraction, which costs more than the whole classification.
    title = _first(tree, "//meta[@property='og:title']/@content", "//title/text()", "//h1//text()")
    description = _first(
        tree,
        "//meta[@name='description']/@content",
        "//meta[@property='og:description']/@content",
    )
    declared = _declared_language(tree)
    document = trafilatura.bare_extraction(
        tree,
        url=url,
        favor_precision=True,
        include_comments=False,
        include_tables=False,
        with_metadata=False,
    )
    text = "" if not isinstance(document, Document) else (document.text or "")
    detected = language.detect(text=text, title=title, declared=declared)
    return Extracted(title, description, text, detected)
