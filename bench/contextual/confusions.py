"""Who makes the blend's errors on news-style text: the lexicon or the head (issue 16, session 13).

Usage:
    .venv/bin/python bench/contextual/confusions.py [--data build/contextual] [--cells 12]

Reads the PUBLIC DEV split only (never test): the shipped head and knobs (`blend.py
--shipped`'s) and the engine's cached evidence (`engine-evidence-<ENGINE_VERSION>.json`). For
the news-style sources (AG News, MIND, Reuters-21578) it prints the blend's largest confusion
cells (gold → answer), each split into documents at or over the strong-evidence gate (the
engine's own answer stands: a lexicon error or a label question) and under it (the blend, where
the head's weight decides), how many weak-evidence errors follow the head's first category, the
lexicon terms that put the wrong answer first where the lexicon did, and MIND's errors by its
own category/subcategory label (mapping questions of `train_labels.tsv`).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from blend import NEWS_STYLE, doc_tokens, engine_evidence, load_shipped, predict
from train import DEFAULT_DATA, Features, softmax
from train_features import embeddings, load_jsonl

from beacon.contextual import categories, taxonomy


def dev_rows(data: Path) -> list[dict[str, Any]]:
    """Per news-style dev document: gold, blend answer, head's first category, strong flag."""
    docs = [d for d in load_jsonl(data / "topics.jsonl") if d["language"] == "en"]
    classes = list(taxonomy.topic_tier1_codes())
    vectors = embeddings(docs, data / "embeddings-topics.npz").astype(np.float32)
    rows = [i for i, d in enumerate(docs) if d["split"] == "dev" and d["source"] in NEWS_STYLE]
    subset = [docs[i] for i in rows]
    model, knobs = load_shipped(classes)
    head = softmax(model.logits(Features(vectors[rows], None)) / model.temperature)
    found = list(engine_evidence(subset, vectors[rows], data / "engine-evidence").values())
    answers = predict(found, head, classes, knobs, doc_tokens(subset))
    out = []
    for doc, evidence, answer, probs in zip(subset, found, answers, head, strict=True):
        top = max(evidence.lexical.items(), key=lambda item: item[1], default=("-", 0.0))
        out.append(
            {
                "doc": doc,
                "gold": doc["tier1"],
                "answer": answer[0] if answer else "-",
                "head": classes[int(np.argmax(probs))],
                "lexicon_first": top[0],
                "strong": top[1] >= knobs["strong_evidence"],
            }
        )
    return out


def wrong_terms(rows: list[dict[str, Any]]) -> dict[tuple[str, str], Counter[str]]:
    """Per confusion cell, the lexicon points each term gave the wrong answer, summed over the
    documents whose lexicon put that answer first."""
    entries = categories.lexicon().entries
    terms: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for row in rows:
        if row["lexicon_first"] != row["answer"]:
            continue
        doc = row["doc"]
        counts = categories.term_counts(
            title=doc.get("title", ""), description="", text=doc["text"]
        )
        for key, count in counts.items():
            points = entries[key].tier1.get(row["answer"], 0.0) * (
                count if count <= 1 else 1.0 + np.log(count)
            )
            if points:
                terms[(row["gold"], row["answer"])][" ".join(key)] += float(points)
    return terms


def main() -> int:
    """Print the dev confusion report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cells", type=int, default=12, help="largest confusion cells shown")
    args = parser.parse_args()
    rows = dev_rows(args.data)
    errors = [r for r in rows if r["answer"] != r["gold"]]
    for source in NEWS_STYLE:
        n = sum(r["doc"]["source"] == source for r in rows)
        wrong = sum(r["doc"]["source"] == source for r in errors)
        print(f"{source}: {n} dev documents, blend top-1 {1 - wrong / n:.1%}")
    weak = [r for r in errors if not r["strong"]]
    print(
        f"{len(errors)} errors: {len(errors) - len(weak)} at or over the gate (the engine's "
        f"answer), {len(weak)} under it; of these the blend follows the head's first category "
        f"in {sum(r['head'] == r['answer'] for r in weak)}, the head was right in "
        f"{sum(r['head'] == r['gold'] for r in weak)}"
    )
    cells = Counter((r["gold"], r["answer"]) for r in errors)
    strong = Counter((r["gold"], r["answer"]) for r in errors if r["strong"])
    terms = wrong_terms(errors)
    print("\ngold -> answer: errors (over the gate / under it); lexicon terms behind the answer")
    for cell, n in cells.most_common(args.cells):
        top = ", ".join(f"{t} {v:.0f}" for t, v in terms[cell].most_common(10))
        print(f"{cell[0]} -> {cell[1]}: {n} ({strong[cell]} / {n - strong[cell]}); {top}")
    mind = Counter(r["doc"]["label"] for r in errors if r["doc"]["source"] == "mind")
    labels = Counter(r["doc"]["label"] for r in rows if r["doc"]["source"] == "mind")
    print("\nMIND errors by label (errors / documents):")
    for label, n in mind.most_common(args.cells):
        print(f"  {label}: {n} / {labels[label]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
