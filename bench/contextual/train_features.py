"""Feature extraction shared by bench/contextual/train.py: embeddings, hashed words, lexicon.

A document's features are the ones the engine can compute at classification time without
more model calls than it already makes:

* the unit-length MiniLM sentence embedding of title + lede (`semantic.embed`, the same text
  `semantic.similarities` embeds), 384 dims;
* hashed, log-scaled, L2-normalised counts of folded word unigrams and bigrams
  (`categories.tokenize`), title words counted twice, HASH_DIM buckets (CRC32, so the same on
  every machine and Python build);
* the lexicon's tier-1 scores (`categories.score`), log1p-scaled, one column per topic tier-1;
* (sentiment) VADER's sentence-averaged compound/pos/neg/neu scores (`sentiment.vader_features`).

Embeddings are cached in <out>/embeddings-<kind>.npz keyed by document id, so re-training
after a change of model or features does not re-embed.
"""

from __future__ import annotations

import itertools
import json
import math
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from beacon.contextual import categories, semantic, sentiment, taxonomy

HASH_DIM = 1 << 15
TITLE_REPEAT = 2


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON Lines file."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def minilm_embedding(doc: dict[str, Any]) -> np.ndarray:
    """The engine's MiniLM embedding of a document's title and lede: exactly the vector
    `semantic.page_embedding` computes at run time for a page with that title and text and no
    description (what `engine.classify_text(text=..., title=...)` is called with)."""
    return semantic.page_embedding(title=doc.get("title", ""), description="", text=doc["text"])


def embeddings(
    docs: Sequence[dict[str, Any]],
    cache: Path,
    *,
    log_every: int = 2000,
    embed: Callable[[dict[str, Any]], np.ndarray] = minilm_embedding,
) -> np.ndarray:
    """(n, dim) float32 embeddings of `docs` by `embed`, reusing and extending the cache file."""
    known: dict[str, np.ndarray] = {}
    if cache.exists():
        with np.load(cache) as data:
            known = dict(zip(data["ids"].tolist(), data["vectors"], strict=True))
    missing = [doc for doc in docs if doc["id"] not in known]
    started = time.monotonic()
    for i, doc in enumerate(missing, 1):
        known[doc["id"]] = embed(doc).astype(np.float32)
        if i % log_every == 0:
            rate = i / (time.monotonic() - started)
            print(f"  embedded {i}/{len(missing)} ({rate:.0f}/s)", flush=True)
            _save(cache, known)
    if missing:
        _save(cache, known)
    return np.stack([known[doc["id"]] for doc in docs])


def _save(cache: Path, known: dict[str, np.ndarray]) -> None:
    ids = np.array(list(known), dtype=object)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, ids=ids.astype(str), vectors=np.stack(list(known.values())))
    tmp.replace(cache)


@dataclass(frozen=True, slots=True)
class Sparse:
    """Row-compressed hashed word features: row i is indices/values[indptr[i]:indptr[i+1]]."""

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray

    def dense(self, rows: np.ndarray) -> np.ndarray:
        """The given rows as a dense (len(rows), HASH_DIM) float32 matrix."""
        out = np.zeros((len(rows), HASH_DIM), dtype=np.float32)
        for r, i in enumerate(rows):
            lo, hi = self.indptr[i], self.indptr[i + 1]
            out[r, self.indices[lo:hi]] = self.values[lo:hi]
        return out


def _hash(token: str) -> int:
    return zlib.crc32(token.encode("utf-8")) % HASH_DIM


def hashed_counts(title: str, text: str) -> dict[int, float]:
    """Bucket → log-scaled, L2-normalised count of the page's unigrams and bigrams."""
    counts: dict[int, float] = {}
    for tokens, weight in (
        (categories.tokenize(title), TITLE_REPEAT),
        (categories.tokenize(text), 1),
    ):
        grams: Iterable[str] = (
            *tokens,
            *(f"{a} {b}" for a, b in itertools.pairwise(tokens)),
        )
        for gram in grams:
            bucket = _hash(gram)
            counts[bucket] = counts.get(bucket, 0.0) + weight
    scaled = {k: 1.0 + math.log(v) for k, v in counts.items()}
    norm = math.sqrt(sum(v * v for v in scaled.values())) or 1.0
    return {k: v / norm for k, v in scaled.items()}


def sparse_features(docs: Sequence[dict[str, Any]]) -> Sparse:
    """Hashed word features of `docs`."""
    indptr = [0]
    indices: list[int] = []
    values: list[float] = []
    for doc in docs:
        counts = hashed_counts(doc.get("title", ""), doc["text"][: 4 * semantic.MAX_CHARS])
        indices.extend(counts)
        values.extend(counts.values())
        indptr.append(len(indices))
    return Sparse(
        np.array(indptr, dtype=np.int64),
        np.array(indices, dtype=np.int32),
        np.array(values, dtype=np.float32),
    )


def lexicon_features(title: str, text: str) -> np.ndarray:
    """log1p of the lexicon's tier-1 scores, one column per topic tier-1 code."""
    tier1, _ = categories.score(categories.term_counts(title=title, description="", text=text))
    codes = taxonomy.topic_tier1_codes()
    return np.log1p(np.array([tier1.get(code, 0.0) for code in codes], dtype=np.float32))


def lexicon_matrix(docs: Sequence[dict[str, Any]]) -> np.ndarray:
    """(n, 23) lexicon features of `docs`."""
    return np.stack([lexicon_features(doc.get("title", ""), doc["text"]) for doc in docs])


def vader_matrix(docs: Sequence[dict[str, Any]]) -> np.ndarray:
    """(n, 4) VADER columns of `docs` (`sentiment.vader_features`, as the engine computes them)."""
    return np.stack(
        [sentiment.vader_features(text=doc["text"], title=doc.get("title", "")) for doc in docs]
    )
