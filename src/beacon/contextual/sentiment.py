"""Document sentiment: trained three-way heads over the page's MiniLM embedding.

Two heads, both trained by `bench/contextual/train.py --sentiment` on public labelled text
(TweetEval, SST-5 sentences and phrases, Amazon reviews; docs/understand.md lists sources and
licences), and a length gate between them (`SHORT_TEXT_TOKENS`): a short text (a tweet, a
review sentence, a short review) is read by `data/sentiment-head-short.npz`, a softmax over
one ReLU layer, which reads those styles better; a longer page by `data/sentiment-head.npz`, a
multinomial logistic regression, which reads article prose better. Their input is the
unit-length sentence embedding the engine already computes for the page (`semantic.py`: title,
description and lede), so a page costs one small matrix product more, plus VADER's
sentence-averaged scores as four extra columns when the trained head uses them.

VADER alone mislabels short reviews ("not bad at all", irony, domain words it has no entry
for) and drifts positive on neutral prose; the head reads the embedding, which captures
negation and context, and was chosen on a dev split (docs/benchmarks.md).

The wire form is unchanged: a label (negative / neutral / positive) and a score in [0, 1]
where 0 is most negative, 0.5 neutral and 1 most positive: 0.5 + (P(positive) − P(negative)) / 2
from the temperature-calibrated probabilities.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

import numpy as np
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from beacon.contextual import heads, semantic
from beacon.contextual import language as page_language
from beacon.contextual.categories import page_tokens
from beacon.contextual.heads import SoftmaxHead

# The VADER rule kept for the non-English languages the engine classifies (es, fr, de, it, pt),
# which the English-trained head cannot read: cut-offs on the sentence-average compound,
# VADER's documented -0.05 for negative and 0.2 (not 0.05) for positive, because everyday
# words VADER scores positive ("like", "help", "free") are common in neutral prose.
POSITIVE_THRESHOLD = 0.2
NEGATIVE_THRESHOLD = -0.05
TITLE_WEIGHT = 2.0
# VADER costs ~0.1 ms per sentence; the first 40 sentences (~800 words) set an article's tone.
MAX_SENTENCES = 40
# VADER's cost grows with the square of a sentence's length (its negation check lowercases the
# whole sentence again for every word): 20,000 characters without a full stop took 1.7 s, and
# a page of one unpunctuated paragraph held a CPU for minutes. A "sentence" longer than this
# many words (a list, a table, text without punctuation) is read in pieces of this length,
# which count as sentences; real sentences are far shorter and are read whole.
MAX_SENTENCE_WORDS = 60
_SENTENCE_RE = re.compile(r"(?<=[.!?…])\s+|\n+")
HEAD_FILE = "sentiment-head.npz"
SHORT_HEAD_FILE = "sentiment-head-short.npz"
# The length gate: a page of fewer folded tokens than this (`categories.page_tokens`: title and
# text, the count the topic head's `long_tokens` uses) is read by SHORT_HEAD_FILE, a longer one
# by HEAD_FILE. Chosen on the public dev splits and half A of the project's set
# (docs/benchmarks.md, "Sentiment: a length gate between the hidden-layer and the softmax head").
SHORT_TEXT_TOKENS: Final[int] = 150
LABELS = ("negative", "neutral", "positive")


@dataclass(frozen=True, slots=True)
class Sentiment:
    """Label and score in [0, 1] where 0 is most negative, 0.5 neutral, 1 most positive."""

    label: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        """Wire form: label, score."""
        return {"label": self.label, "score": self.score}


NEUTRAL = Sentiment("neutral", 0.5)


@dataclass(frozen=True, slots=True)
class Head(SoftmaxHead):
    """The trained sentiment head: a softmax over the page embedding, then VADER's columns
    when it was trained with them."""

    uses_vader: bool = False

    def features(self, embedding: np.ndarray, vader: np.ndarray) -> np.ndarray:
        """The head's input for a page: its embedding, then VADER's scores if used."""
        return np.concatenate([embedding, vader]) if self.uses_vader else embedding


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


@cache
def head(file: str = HEAD_FILE) -> Head:
    """A shipped head (`HEAD_FILE` or `SHORT_HEAD_FILE`), loaded once."""
    softmax, extra = heads.load(file, weights="w_dense")
    features = {str(name) for name in extra["features"]}
    if softmax.classes != LABELS or not features <= {"emb", "vader"}:
        raise RuntimeError(f"{file}: unexpected classes {softmax.classes} or features {features}")
    return Head(
        softmax.classes,
        softmax.weights,
        softmax.bias,
        softmax.temperature,
        softmax.hidden,
        uses_vader="vader" in features,
    )


def is_short(*, title: str, text: str) -> bool:
    """Whether a page has fewer than `SHORT_TEXT_TOKENS` folded tokens of title and text.
    A prefix of the text is counted first (a token is rarely over 15 characters), so a long
    page is not tokenized whole (~14 ms for 7,000 tokens): a prefix's count never exceeds the
    whole text's."""
    prefix = text[: SHORT_TEXT_TOKENS * 16]
    if page_tokens(title=title, text=prefix) >= SHORT_TEXT_TOKENS:
        return False
    return len(prefix) == len(text) or page_tokens(title=title, text=text) < SHORT_TEXT_TOKENS


def head_for(*, title: str, text: str) -> Head:
    """The head that reads a page: `SHORT_HEAD_FILE` for a short one (`is_short`), else
    `HEAD_FILE`."""
    return head(SHORT_HEAD_FILE if is_short(title=title, text=text) else HEAD_FILE)


def warm_up() -> None:
    """Load both heads and VADER's lexicon (once)."""
    head(HEAD_FILE)
    head(SHORT_HEAD_FILE)
    _analyzer()


def vader_features(*, text: str, title: str = "") -> np.ndarray:
    """VADER's compound, positive, negative and neutral scores averaged over the sentences
    (the title counting as two: it states the page's angle); zeros for empty text."""
    analyzer = _analyzer()
    weighted: list[tuple[dict[str, float], float]] = []
    if title.strip():
        weighted.append((analyzer.polarity_scores(_pieces(title)[0]), TITLE_WEIGHT))
    sentences = [s for s in _SENTENCE_RE.split(text) if len(s.strip()) > 2]
    pieces = (piece for sentence in sentences for piece in _pieces(sentence))
    for piece in itertools.islice(pieces, MAX_SENTENCES):
        weighted.append((analyzer.polarity_scores(piece), 1.0))
    total = sum(weight for _, weight in weighted)
    if not total:
        return np.zeros(4, dtype=np.float32)
    return np.array(
        [sum(s[key] * w for s, w in weighted) / total for key in ("compound", "pos", "neg", "neu")],
        dtype=np.float32,
    )


def _pieces(sentence: str) -> list[str]:
    """``sentence`` whole when it has at most ``MAX_SENTENCE_WORDS`` words, else in pieces of
    that many words."""
    words = sentence.split()
    if len(words) <= MAX_SENTENCE_WORDS:
        return [sentence]
    return [
        " ".join(words[i : i + MAX_SENTENCE_WORDS])
        for i in range(0, len(words), MAX_SENTENCE_WORDS)
    ]


def analyze(
    *,
    text: str,
    title: str = "",
    description: str = "",
    language: str | None = "en",
    embedding: np.ndarray | None = None,
) -> Sentiment:
    """Sentiment of a page: a trained head for English (or undetermined) text (`head_for`:
    by the page's length), the VADER rule otherwise; `embedding` is the page's
    `semantic.page_embedding` (computed here when the caller has none)."""
    if not (text.strip() or title.strip() or description.strip()):
        return NEUTRAL
    if not page_language.reads_as_english(language):
        return vader_rule(text=text, title=title)
    if embedding is None:
        embedding = semantic.page_embedding(title=title, description=description, text=text)
    model = head_for(title=title, text=text)
    vader = vader_features(text=text, title=title) if model.uses_vader else np.zeros(0)
    p = dict(
        zip(
            model.classes,
            model.probabilities(model.features(embedding, vader)).tolist(),
            strict=True,
        )
    )
    label = max(p, key=lambda name: p[name])
    return Sentiment(label, round(0.5 + (p["positive"] - p["negative"]) / 2.0, 3))


def vader_rule(*, text: str, title: str = "") -> Sentiment:
    """The VADER-only sentiment (kept for non-English pages): sentence-average compound c,
    score (c + 1) / 2."""
    compound = float(vader_features(text=text, title=title)[0])
    if compound >= POSITIVE_THRESHOLD:
        label = "positive"
    elif compound <= NEGATIVE_THRESHOLD:
        label = "negative"
    else:
        label = "neutral"
    return Sentiment(label, round((compound + 1.0) / 2.0, 3))
