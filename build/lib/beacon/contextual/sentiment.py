"""Document sentiment with VADER, averaged over sentences.

VADER's compound score saturates on long inputs (a whole article nearly always scores close
to -1 or +1), so each sentence is scored on its own and the compounds are averaged; the
title counts as two sentences because it states the page's angle.

The neutral band is asymmetric. VADER was built for social media, where positive words carry
opinion; in article prose, everyday words it scores as positive ("like", "help", "well",
"free") are common in neutral reporting, so the sentence average of a neutral article sits
slightly above zero. With VADER's symmetric ±0.05 cut-offs most neutral articles came out
positive (see docs/benchmarks.md); a page is now positive only from a sentence average of 0.2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

# Cut-offs for the sentence average: VADER's documented -0.05 for negative; positive is raised
# from its 0.05 to 0.2 to absorb the positive bias of neutral prose (module docstring).
POSITIVE_THRESHOLD = 0.2
NEGATIVE_THRESHOLD = -0.05
TITLE_WEIGHT = 2.0
# VADER costs ~0.1 ms per sentence; the first 40 sentences (~800 words) set an article's tone.
MAX_SENTENCES = 40
_SENTENCE_RE = re.compile(r"(?<=[.!?…])\s+|\n+")


@dataclass(frozen=True, slots=True)
class Sentiment:
    """Label and score in [0, 1] where 0 is most negative, 0.5 neutral, 1 most positive."""

    label: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        """Wire form: label, score."""
        return {"label": self.label, "score": self.score}


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def analyze(*, text: str, title: str = "") -> Sentiment:
    """Sentiment of a page: mean sentence compound c, score = (c + 1) / 2."""
    analyzer = _analyzer()
    weighted: list[tuple[float, float]] = []
    if title.strip():
        weighted.append((analyzer.polarity_scores(title)["compound"], TITLE_WEIGHT))
    sentences = [s for s in _SENTENCE_RE.split(text) if len(s.strip()) > 2]
    for sentence in sentences[:MAX_SENTENCES]:
        weighted.append((analyzer.polarity_scores(sentence)["compound"], 1.0))
    total = sum(weight for _, weight in weighted)
    compound = sum(c * w for c, w in weighted) / total if total else 0.0
    if compound >= POSITIVE_THRESHOLD:
        label = "positive"
    elif compound <= NEGATIVE_THRESHOLD:
        label = "negative"
    else:
        label = "neutral"
    return Sentiment(label, round((compound + 1.0) / 2.0, 3))
