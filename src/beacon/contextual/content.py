"""Pages with too little content to classify: a sign-in wall, a cookie banner, a "please enable
JavaScript" shell, an error or loading page, a bare greeting.

The topic head reads any text, and on a few words of boilerplate it is confidently wrong
("Page not found" read as Technology & Computing at 0.8, "hello" as News). Calibration cannot
help: its map is a function of the score, fitted on documents that all have a topic. So a
page whose title, description and text hold no content word gets no category, and the result
says ``insufficient_content`` (docs/understand.md). A content word is a word of two or more
letters that is neither a stop word of the page's language (YAKE's lists, as the keywords
use) nor a word of such interstitial pages (``data/interstitial-words.txt``: the words those
pages are made of, across sites; English on every page, and the page's own language's section
for de, es, fr, it and pt). Digits do not count ("404").

One content word is enough: short public questions and headlines carry their topic in a
single word ("Which annuity is right for me?"); at two, 2% of the public corpus's wikiHow steps
and 3% of its InsuranceQA questions would go unanswered (docs/benchmarks.md). At one, 2 of
its 3,877 English dev documents and none of its test documents are withheld.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

import yake

NOTE = "insufficient_content"

_WORDS_FILE = "interstitial-words.txt"

# Words with their apostrophes ("doesn't", "you've"), as the stop-word lists spell them.
_WORD_RE = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
# What pages write for that apostrophe: typographic quotes, the modifier letter, the acute
# accent and the grave accent typed for it, the full-width form.
_APOSTROPHES = str.maketrans(dict.fromkeys("\u2019\u2018\u02bc\u00b4\u0060\uff07", "'"))


@cache
def interstitial_words(language: str | None = "en") -> frozenset[str]:
    """The words of ``data/interstitial-words.txt`` a page in ``language`` reads: the English
    ones and its own language's section (``[de]``, ...); every section when the language is
    undetermined (a short text: "Accedi", "Iniciar sesión")."""
    sections = _sections()
    if language is None:
        return frozenset().union(*sections.values())
    return sections["en"] | sections.get(language, frozenset())


@cache
def _sections() -> dict[str, frozenset[str]]:
    text = resources.files("beacon.contextual").joinpath("data", _WORDS_FILE).read_text("utf-8")
    words: dict[str, set[str]] = {"en": set()}
    section = "en"
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            words.setdefault(section, set())
        else:
            words[section].update(line.split())
    return {name: frozenset(found) for name, found in words.items()}


@cache
def _stop_words(language: str) -> frozenset[str]:
    try:
        extractor = yake.KeywordExtractor(lan=language)
    except Exception:  # a language YAKE has no list for: none
        return frozenset()
    return frozenset(extractor.stopword_set)


def too_little(*, title: str, description: str, text: str, language: str | None) -> bool:
    """Whether the page holds no content word (nothing to give a category from)."""
    stop = _stop_words(language or "en")
    interstitial = interstitial_words(language)
    for part in (title, description, text):
        for match in _WORD_RE.finditer(part.translate(_APOSTROPHES)):
            word = match.group().lower()
            if len(word) > 1 and word not in stop and word not in interstitial:
                return False
    return True
