"""Key phrases with YAKE (unsupervised, statistical, ships no model)."""

from __future__ import annotations

import re
from functools import cache

import yake

MAX_KEYWORDS = 10
MAX_WORDS = 2
# YAKE costs about 6 ms of CPU per 1,000 characters here, the largest share of a page's
# budget; the title, description and lead paragraph carry a page's key phrases, so only that
# much is read (see docs/benchmarks.md).
MAX_CHARS = 1_000
_WORD_RE = re.compile(r"\w+")
_EDGE_PUNCT = ".,;:!?\"'()[]“”‘’"


@cache
def _extractor(language: str = "en") -> yake.KeywordExtractor:
    # YAKE's stop words for the page's language (it ships es, fr, de, it and pt lists too).
    return yake.KeywordExtractor(lan=language, n=MAX_WORDS, dedup_lim=0.7, top=MAX_KEYWORDS * 3)


def _sentences(*parts: str) -> str:
    # Headings and list items arrive as bare lines; end them so YAKE does not join a title's
    # last word to the next line's first word into one phrase.
    lines = (line.strip() for part in parts for line in part.splitlines())
    return "\n".join(line if line[-1] in ".!?" else line + "." for line in lines if line)


def _redundant(words: set[str], phrase: str, chosen: list[tuple[set[str], str]]) -> bool:
    lowered = phrase.lower()
    for other_words, other in chosen:
        if lowered in other.lower() or other.lower() in lowered:
            return True
        if len(words & other_words) / len(words | other_words) >= 0.5:
            return True
    return False


def extract(
    *, text: str, title: str = "", description: str = "", language: str | None = None
) -> list[str]:
    """Up to ten key phrases, best first, deduplicated and cased as on the page."""
    document = _sentences(title, description, text)[:MAX_CHARS]
    if not document:
        return []
    chosen: list[tuple[set[str], str]] = []
    for raw, _score in _extractor(language or "en").extract_keywords(document):
        phrase = raw.strip(_EDGE_PUNCT + " ")
        words = {w.lower() for w in _WORD_RE.findall(phrase)}
        if len(phrase) < 3 or not words or all(w.isdigit() for w in words):
            continue
        if _redundant(words, phrase, chosen):
            continue
        chosen.append((words, phrase))
        if len(chosen) == MAX_KEYWORDS:
            break
    return [phrase for _, phrase in chosen]
