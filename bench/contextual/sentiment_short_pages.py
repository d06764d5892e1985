"""The sentiment gate's short side on article prose (issue 16).

    .venv/bin/python bench/contextual/sentiment_short_pages.py [--words 40 80 120]

The gate (`contextual/sentiment.py`, `SHORT_TEXT_TOKENS`) gives pages under 150 folded tokens
the hidden-layer head, which was chosen on tweets and review sentences; the project's 243
article-style pages are all longer, so they never measured that side on article prose (a news
brief, a short product page). This reads each labelled page of `bench/contextual/eval` cut to
its title and first N words (a lede: the gold label is the whole article's tone, so this is a
proxy) and scores both shipped heads on exactly the same features (the page embedding and
VADER's columns), with the full page under the long head as the reference. Nothing is chosen
here: it reports.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from sentiment_gate import agreement
from train import own_eval_docs

from beacon.contextual import semantic, sentiment
from beacon.contextual.categories import page_tokens


def label(head: sentiment.Head, *, title: str, text: str) -> str:
    """What ``head`` answers for the page (the engine's own features)."""
    embedding = semantic.page_embedding(title=title, description="", text=text)
    vader = sentiment.vader_features(text=text, title=title) if head.uses_vader else np.zeros(0)
    probabilities = head.probabilities(head.features(embedding, vader))
    return str(head.classes[int(np.argmax(probabilities))])


def lede(text: str, words: int) -> str:
    """The first ``words`` words of ``text``."""
    return " ".join(text.split()[:words])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, nargs="+", default=[40, 80, 120])
    args = parser.parse_args(argv)
    docs: list[dict[str, Any]] = [d for d in own_eval_docs() if d.get("sentiment")]
    gold = [d["sentiment"] for d in docs]
    long_head = sentiment.head(sentiment.HEAD_FILE)
    short_head = sentiment.head(sentiment.SHORT_HEAD_FILE)
    full = [label(long_head, title=d["title"], text=d["text"]) for d in docs]
    print(f"{len(docs)} labelled pages; whole page, long head: {agreement(gold, full):.1%}")
    print("| lede | pages under the cut | median tokens | long head | short head (served) |")
    print("|---|---|---|---|---|")
    for words in args.words:
        texts = [lede(d["text"], words) for d in docs]
        tokens = [page_tokens(title=d["title"], text=t) for d, t in zip(docs, texts, strict=True)]
        under = sum(t < sentiment.SHORT_TEXT_TOKENS for t in tokens)
        by_long = [
            label(long_head, title=d["title"], text=t) for d, t in zip(docs, texts, strict=True)
        ]
        by_short = [
            label(short_head, title=d["title"], text=t) for d, t in zip(docs, texts, strict=True)
        ]
        print(
            f"| title + {words} words | {under} / {len(docs)} | {int(np.median(tokens))} "
            f"| {agreement(gold, by_long):.1%} | {agreement(gold, by_short):.1%} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
