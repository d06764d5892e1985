"""Contextual classification engine: page → IAB categories, keywords, entities, sentiment.

Database-free and network-free: every lexicon and gazetteer ships with the package, and the
sentence-embedding model with an installed dependency, so a page classifies the same way on
any machine. Callers fetch (see `fetch.py`), then call
`classify_html`; `classify_text` serves callers that already have clean text.
"""

from __future__ import annotations

import gc
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from beacon.contextual import (
    brand_safety,
    calibration,
    categories,
    content,
    entities,
    keywords,
    multilingual,
    semantic,
    sentiment,
)
from beacon.contextual import extract as extraction
from beacon.contextual import language as page_language
from beacon.contextual.brand_safety import BrandSafety
from beacon.contextual.categories import CategoryMatch
from beacon.contextual.entities import Entity
from beacon.contextual.sentiment import Sentiment

# Bump when the lexicon, gazetteers, embedding model or scoring change, so cached results can be recomputed.
# 1.5.0: calibrated confidences and abstain, es/fr/de/it/pt categories from the multilingual
# head, the trained sentiment head for English.
# 1.6.0: the multilingual head knows all 23 topic tier-1 categories (issue 16, session 10);
# English pages short of an article's lexicon evidence blend the engine with a trained topic
# head over the page embedding (categories.py, data/topics-head.npz).
# 1.7.0: the lexicon reads company results, deals and the economy (central banks, currencies,
# commodities, trade) as Business, not Personal Finance, which keeps the household's money
# (issue 16, session 13).
# 1.8.0: a lone "share" (mostly the verb, plural-folded with "shares") no longer counts for
# Personal Finance, and weather events (hurricanes, named storms, tornadoes, blizzards, high winds)
# read as Weather (issue 16, session 13).
# 1.9.0: the English topic head has a ReLU layer of 512 units (trained with MIND and Reuters too),
# and its blend weight depends on the page's length: 0.75 under 150 folded tokens, 0.05 from 150
# on; the blend decides pages of lexicon score under 40 (was 15) (issue 16, session 14).
# 1.10.0: English pages under 150 folded tokens get their sentiment from a hidden-layer head
# (data/sentiment-head-short.npz), longer ones from the softmax head as before (issue 16,
# h/sent3). Also (session 15): text mostly in a non-Latin script is an unsupported language even
# when the detector is unsure (language.py; no calibration document is), VADER reads an overlong
# sentence in pieces, and the content guard reads every apostrophe form.
ENGINE_VERSION = "lexicon-embed-1.10.0"

# The sentiment of a page in an unsupported language: not measured, so neither side is claimed.
_NOT_ANALYSED = Sentiment("neutral", 0.5)

_loaded = threading.Event()
_load_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Classification:
    """The result for one page; `to_dict()` is the wire format."""

    iab_categories: list[CategoryMatch]
    keywords: list[str]
    entities: list[Entity]
    sentiment: Sentiment
    brand_safety: BrandSafety
    title: str = ""
    language: str | None = None
    engine_version: str = field(default=ENGINE_VERSION)
    too_little_content: bool = False  # no content word to classify (content.py)

    @property
    def notes(self) -> list[str]:
        """Why parts of the result are empty: ``unsupported_language`` (see language.py),
        ``insufficient_content`` when the page holds no content word (content.py), or
        ``low_confidence`` when no category reached the abstain threshold (calibration.py)."""
        if not page_language.is_supported(self.language):
            return [page_language.UNSUPPORTED]
        if self.too_little_content:
            return [content.NOTE]
        return [] if self.iab_categories else [calibration.LOW_CONFIDENCE]

    def to_dict(self) -> dict[str, Any]:
        """The seed's {"iab_categories", "keywords", "entities", "sentiment"}, then the
        additive "language" (ISO 639-1, null when undetermined), "notes" and "brand_safety"."""
        return {
            "iab_categories": [c.to_dict() for c in self.iab_categories],
            "keywords": list(self.keywords),
            "entities": [e.to_dict() for e in self.entities],
            "sentiment": self.sentiment.to_dict(),
            "language": self.language,
            "notes": self.notes,
            "brand_safety": self.brand_safety.to_dict(),
        }


def warm_up() -> None:
    """Load the lexicon, gazetteers, taxonomy and models once, then freeze them for the GC.

    The loaded data is some 70,000 long-lived objects. Without ``gc.freeze()`` every full
    (generation-2) collection walks them all, which costs ~35 ms of CPU and lands on whichever
    page is being classified at the time: the p99 of single classifications fell from ~50 ms
    to ~19 ms. Runs on the first classification in each process; safe to call again.
    """
    if _loaded.is_set():
        return
    with _load_lock:
        if _loaded.is_set():
            return
        semantic.warm_up()
        categories.topic_head()
        multilingual.warm_up()
        sentiment.warm_up()
        page_language.warm_up()
        calibration.table()
        _classify(text="Warm up.", title="Warm up", description="", language="en")
        extraction.extract(html="<html><body><p>Warm up.</p></body></html>", url="")
        gc.collect()
        gc.freeze()
        _loaded.set()


def classify_text(
    *,
    text: str,
    title: str = "",
    description: str = "",
    min_confidence: float | None = None,
    calibrated: bool = True,
) -> Classification:
    """Classify already-extracted page text.

    Categories below ``min_confidence`` (default: the shipped ``abstain_below``) are not
    reported. ``calibrated=False`` returns the raw heuristic scores and never abstains: it is
    what ``bench/contextual/calibrate.py`` fits the calibration map on.
    """
    warm_up()
    text, title, description = (_scalar_values(part) for part in (text, title, description))
    detected = page_language.detect(text=text, title=title)
    return _classify(
        text=text,
        title=title,
        description=description,
        language=detected,
        min_confidence=min_confidence,
        calibrated=calibrated,
    )


def _scalar_values(text: str) -> str:
    """``text`` with each lone UTF-16 surrogate (a Python string may hold one; UTF-8 cannot)
    replaced by U+FFFD, which the tokenizers accept. The API refuses them before this (422)
    and HTML decoding never makes them: this guards callers in Python."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")


def _categories(
    *,
    text: str,
    title: str,
    description: str,
    language: str | None,
    min_confidence: float | None,
    calibrated: bool,
) -> tuple[list[CategoryMatch], list[CategoryMatch], np.ndarray | None]:
    """(the categories found, the ones reported, the page's English embedding): calibrated,
    and none reported at all when the best is below the threshold — an empty list rather
    than a likely wrong one. Secondary categories of an answered page stay whatever their
    confidence (they are what top-3 recall counts; segments' ``min_confidence`` filters
    them)."""
    found, embedding = _raw_categories(
        title=title, description=description, text=text, language=language
    )
    if not calibrated:
        return found, found, embedding
    found = calibration.calibrate(found, language=language)
    threshold = calibration.abstain_threshold(min_confidence)
    if not found or found[0].confidence < threshold:
        return found, [], embedding
    return found, found, embedding


def _classify(
    *,
    text: str,
    title: str,
    description: str,
    language: str | None,
    min_confidence: float | None = None,
    calibrated: bool = True,
) -> Classification:
    if not page_language.is_supported(language):
        # Nothing the English lexicon, YAKE's stop words, the gazetteer rules or the sentiment
        # head (trained on English only) read from this text would be right: say so instead
        # of guessing (docs/understand.md).
        # Brand safety still reads the text: its floor terms ("porn", "xxx", "torrent") are
        # often written as they are in English.
        risk = brand_safety.assess(title=title, text=f"{description}\n{text}")
        return Classification([], [], [], _NOT_ANALYSED, risk, title=title, language=language)
    found, reported, embedding = _categories(
        text=text,
        title=title,
        description=description,
        language=language,
        min_confidence=min_confidence,
        calibrated=calibrated,
    )
    # Served results only: the raw scores calibration is fitted on stay the engine's own.
    thin = calibrated and content.too_little(
        title=title, description=description, text=text, language=language
    )
    if thin:
        reported = []
    return Classification(
        iab_categories=reported,
        keywords=keywords.extract(
            text=text, title=title, description=description, language=language
        ),
        entities=entities.extract(text=text, title=title),
        sentiment=sentiment.analyze(
            text=text,
            title=title,
            description=description,
            language=language,
            embedding=embedding,
        ),
        brand_safety=brand_safety.assess(
            title=title, text=f"{description}\n{text}", categories=found, reported=reported
        ),
        title=title,
        language=language,
        too_little_content=thin,
    )


def _raw_categories(
    *, title: str, description: str, text: str, language: str | None
) -> tuple[list[CategoryMatch], np.ndarray | None]:
    """English (and undetermined) pages: the lexicon re-ranked by MiniLM, whose page embedding
    is returned for the sentiment head too (one embedding per page); es/fr/de/it/pt pages: the
    multilingual encoder and its head (see multilingual.py), and no English embedding."""
    if language in multilingual.LANGUAGES:
        return multilingual.classify(title=title, description=description, text=text), None
    page = semantic.page_text(title=title, description=description, text=text)
    # An empty page has nothing to embed: no re-ranking, and its sentiment is neutral.
    embedding = semantic.embed(page) if page.strip() else None
    found = categories.classify(
        title=title, description=description, text=text, embedding=embedding
    )
    return found, embedding


def classify_html(*, html: str, url: str, min_confidence: float | None = None) -> Classification:
    """Extract the main content of an HTML page, then classify it (``min_confidence`` as in
    ``classify_text``)."""
    warm_up()
    page = extraction.extract(html=html, url=url)
    return _classify(
        text=page.text,
        title=page.title,
        description=page.description,
        language=page.language,
        min_confidence=min_confidence,
    )
