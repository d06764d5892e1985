"""The language of a page: read from its content, with the declared `<html lang>` as a hint.

Detection is py3langid (a naive Bayes model over byte n-grams, 140 languages, BSD-3-Clause,
its model ships in the wheel), with probabilities normalised so that short and long texts
are comparable. It reads the title and the first ``MAX_CHARS`` of the main text: about
0.3 ms of CPU per page.

How content and declaration combine (pages often declare ``en`` whatever they are written
in, so the declaration only breaks ties):

1. The content decides when the detector is confident (top probability ≥
   ``CONFIDENT``) and the declared language is implausible for it (probability below
   ``PLAUSIBLE``): a Spanish article on a page declaring ``lang="en"`` is Spanish.
2. Otherwise a declared language wins: short or ambiguous text (a headline, a list of
   product names, Spanish against Galician) says too little to overrule the page.
3. With no declaration, an unsure detector answers ``None`` (undetermined): the page is
   classified as if its language were supported, since a wrong ``unsupported_language``
   would throw away a good classification of a short English text.

4. Text written mostly in another script than Latin (Cyrillic, Greek, Arabic, CJK, ...) is in
   none of the supported languages, which all write in Latin letters: it answers the
   detector's best guess among the other languages even when unsure ("登录" is ``zh``, not
   undetermined), and a supported language declared over it is a template's default, not the
   page's language. A declared unsupported language stands.

Codes are ISO 639-1 (``en``, ``es``) where the language has one; the few languages the model
knows only by an ISO 639-3 code keep that code. The model's ``zxx`` ("no linguistic
content": numbers, code) counts as undetermined.
"""

from __future__ import annotations

import re
from functools import cache

from py3langid.langid import MODEL_FILE, LanguageIdentifier

# Languages the engine classifies; others answer with the UNSUPPORTED note and no categories.
SUPPORTED = frozenset({"en", "es", "fr", "de", "it", "pt"})
# The language the lexicon, MiniLM and the sentiment head read; the other supported ones take
# the multilingual path (multilingual.py, the VADER rule for sentiment).
ENGLISH = "en"
UNSUPPORTED = "unsupported_language"
MAX_CHARS = 2_000
CONFIDENT = 0.5
PLAUSIBLE = 0.1
_NO_LANGUAGE = "zxx"
_DECLARED_RE = re.compile(r"^([a-zA-Z]{2,3})(?:[-_].*)?$")
_LETTER_RE = re.compile(r"[^\W\d_]")
# Latin letters: ASCII, Latin-1 Supplement, Latin Extended-A and -B, Latin Extended Additional,
# and the full-width forms CJK typesetting uses for Latin text ("ＢＲＥＡＫＩＮＧ ＮＥＷＳ").
_LATIN_LETTER_RE = re.compile(
    r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff\uff21-\uff3a\uff41-\uff5a]"
)


@cache
def _identifier() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def warm_up() -> None:
    """Load the model (decompressing it takes ~0.3 s)."""
    _identifier()


def normalize_declared(value: str | None) -> str | None:
    """`en-US`, `pt_BR`, ` FR ` → the primary language subtag, lower case; junk → None."""
    match = _DECLARED_RE.match((value or "").strip())
    code = match.group(1).lower() if match else None
    return None if code == _NO_LANGUAGE else code


def detect(*, text: str, title: str = "", declared: str | None = None) -> str | None:
    """The page's language (see the module docstring for how `declared` counts)."""
    hint = normalize_declared(declared)
    sample = f"{title}\n{text[:MAX_CHARS]}".strip()
    if not sample:
        return hint
    ranking = _identifier().rank(sample)
    best, confidence = ranking[0]
    if best == _NO_LANGUAGE:
        return hint
    if _mostly_other_script(sample):
        if hint is not None and hint not in SUPPORTED:
            return hint
        return next(code for code, _ in ranking if code not in SUPPORTED | {_NO_LANGUAGE})
    if hint is None:
        return best if confidence >= CONFIDENT else None
    if hint == best:
        return hint
    hint_probability = next((p for code, p in ranking if code == hint), 0.0)
    if confidence >= CONFIDENT and hint_probability < PLAUSIBLE:
        return best
    return hint


def reads_as_english(language: str | None) -> bool:
    """Whether a page takes the English models: English, or a language not determined."""
    return language is None or language == ENGLISH


def is_supported(language: str | None) -> bool:
    """Whether the engine classifies this language; an undetermined one is given the benefit."""
    return language is None or language in SUPPORTED


def _mostly_other_script(sample: str) -> bool:
    """Whether fewer than half of the letters of ``sample`` are Latin ones."""
    letters = len(_LETTER_RE.findall(sample))
    return letters > 0 and 2 * len(_LATIN_LETTER_RE.findall(sample)) < letters
