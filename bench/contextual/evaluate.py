"""Evaluate the contextual engine on the labelled set in bench/contextual/eval/*.jsonl.

Usage: .venv/bin/python bench/contextual/evaluate.py [--eval-dir DIR] [--errors N] [--json]

Reports tier-1 top-1 accuracy, tier-1 top-3 recall, tier-2 accuracy (documents with a tier-2
label), sentiment agreement, per-category accuracy and a confidence reliability table. The set
is a comparison tool: the lexicon is not tuned against it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from beacon.contextual.engine import ENGINE_VERSION, classify_text

EVAL_DIR = Path(__file__).parent / "eval"


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a proportion."""
    if n == 0:
        return (0.0, 0.0)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def load(eval_dir: Path) -> list[dict[str, Any]]:
    """All documents of the set, in file order."""
    docs = []
    for path in sorted(eval_dir.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                docs.append(json.loads(line))
    return docs


def evaluate(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Run the engine over `docs` and compute the metrics."""
    top1 = top3 = tier2_hits = tier2_total = sentiment_hits = sentiment_total = 0
    per_category: dict[str, Counter[str]] = defaultdict(Counter)
    confusion: Counter[tuple[str, str]] = Counter()
    bins: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    sentiment_confusion: Counter[str] = Counter()
    errors = []
    for doc in docs:
        result = classify_text(text=doc["text"], title=doc.get("title", ""))
        predicted = [c.id for c in result.iab_categories]
        tier1s = [p.split("-")[0] for p in predicted]
        gold = doc["tier1"]
        hit = bool(tier1s) and tier1s[0] == gold
        top1 += hit
        top3 += gold in tier1s[:3]
        per_category[gold]["n"] += 1
        per_category[gold]["hit"] += hit
        if not hit:
            confusion[(gold, tier1s[0] if tier1s else "none")] += 1
            errors.append(
                {
                    "id": doc["id"],
                    "gold": gold,
                    "predicted": predicted,
                    "title": doc.get("title", ""),
                }
            )
        if result.iab_categories:
            confidence = result.iab_categories[0].confidence
            bucket = bins[min(9, int(confidence * 10))]
            bucket[0] += 1
            bucket[1] += hit
        if doc.get("tier2"):
            tier2_total += 1
            tier2_hits += bool(predicted) and predicted[0] == doc["tier2"]
        if doc.get("sentiment"):
            sentiment_total += 1
            sentiment_hits += result.sentiment.label == doc["sentiment"]
            sentiment_confusion[f"{doc['sentiment']}->{result.sentiment.label}"] += 1
    n = len(docs)
    return {
        "engine_version": ENGINE_VERSION,
        "documents": n,
        "tier1_top1": top1 / n,
        "tier1_top1_ci95": wilson(top1, n),
        "tier1_top3_recall": top3 / n,
        "tier2_top1": tier2_hits / tier2_total if tier2_total else None,
        "tier2_documents": tier2_total,
        "sentiment_agreement": sentiment_hits / sentiment_total if sentiment_total else None,
        "sentiment_documents": sentiment_total,
        "sentiment_confusion": dict(sorted(sentiment_confusion.items())),
        "per_category": {k: (v["hit"], v["n"]) for k, v in sorted(per_category.items())},
        "confusions": confusion.most_common(10),
        "reliability": {
            f"{b / 10:.1f}-{(b + 1) / 10:.1f}": tuple(v) for b, v in sorted(bins.items())
        },
        "errors": errors,
    }


def main() -> int:
    """Print the evaluation report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--eval-dir", type=Path, default=EVAL_DIR)
    parser.add_argument("--errors", type=int, default=15, help="misclassified documents to list")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    docs = load(args.eval_dir)
    if not docs:
        print(f"no documents in {args.eval_dir}", file=sys.stderr)
        return 1
    report = evaluate(docs)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    low, high = report["tier1_top1_ci95"]
    print(f"engine {report['engine_version']}, {report['documents']} documents")
    print(f"tier-1 top-1 accuracy : {report['tier1_top1']:.1%} (95% CI {low:.1%}-{high:.1%})")
    print(f"tier-1 top-3 recall   : {report['tier1_top3_recall']:.1%}")
    if report["tier2_top1"] is not None:
        print(
            f"tier-2 top-1 accuracy : {report['tier2_top1']:.1%} ({report['tier2_documents']} docs)"
        )
    if report["sentiment_agreement"] is not None:
        print(
            f"sentiment agreement   : {report['sentiment_agreement']:.1%} ({report['sentiment_documents']} docs)"
        )
    print("sentiment gold->predicted:", report["sentiment_confusion"])
    print(
        "per category (hits/n):",
        ", ".join(f"{k} {h}/{n}" for k, (h, n) in report["per_category"].items()),
    )
    print(
        "top confusions (gold -> predicted):",
        ", ".join(f"{g}->{p} x{c}" for (g, p), c in report["confusions"]),
    )
    print("reliability (top confidence bin: n, correct):", report["reliability"])
    for error in report["errors"][: args.errors]:
        print(
            f"  {error['id']}: gold {error['gold']} predicted {error['predicted']} | {error['title'][:70]}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
