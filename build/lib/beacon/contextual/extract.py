"""Main text, title, description and language of an HTML page (trafilatura)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import trafilatura
from lxml.html import HtmlElement
from trafilatura.settings import Document
from trafilatura.utils import load_html

# English function words: a cheap language check for pages without a lang attribute.
_EN_MARKERS = frozenset(
    [
        "the",
        "and",
        "of",
        "to",
        "in",
        "is",
        "that",
        "for",
        "with",
        "on",
        "was",
        "are",
        "as",
        "by",
        "this",
        "it",
        "from",
    ]
)
_WORD_RE = re.compile(r"[^\W\d_]+")
_WS_RE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Extracted:
    """What the classifier reads from a page."""

    title: str
    description: str
    text: str
    language: str | None


def _first(tree: HtmlElement, *xpaths: str) -> str:
    for xpath in xpaths:
        for value in tree.xpath(xpath):
            cleaned = _WS_RE.sub(" ", str(value)).strip()
            if cleaned:
                return cleaned
    return ""


def _declared_language(tree: HtmlElement) -> str:
    return _first(tree, "/html/@lang", "//meta[@http-equiv='content-language']/@content")


def _language(declared: str, text: str) -> str | None:
    if declared:
        return declared.split("-")[0].split("_")[0].lower()[:8]
    words = [w.lower() for w in _WORD_RE.findall(text[:4000])]
    if len(words) >= 30 and sum(w in _EN_MARKERS for w in words) / len(words) > 0.12:
        return "en"
    return None


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
    return Extracted(title, description, text, _language(declared, text))
