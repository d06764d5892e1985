"""Choose and check a length gate between two sentiment heads (issue 16).

Usage:
    .venv/bin/python bench/contextual/sentiment_gate.py [--short FILE] [--long FILE]
        [--cuts 32,64,100,150,250,400] [--test-cut N]

A text of fewer than `cut` folded tokens (`categories.page_tokens`: title and text, as the
engine counts them) is read by the `--short` head (default: the hidden-layer head that
`train.py --no-topics --sentiment --features emb,vader --dev-only --exclude-sources
semeval_tweets --hidden 256` saves under build/contextual/), a longer one by the `--long` head
(default: the shipped `src/beacon/contextual/data/sentiment-head.npz`). Cut 0 is the long head
everywhere.

Dev mode (no `--test-cut`): per candidate cut, pooled and per-source top-1 on the public dev
splits and the three-way agreement on half A of the project's set (`train.own_half`); the
choice is the best pooled dev top-1 among cuts whose half A is not below cut 0's, ties to the
higher half A, then the smaller cut. Neither half B nor a test split is computed.

Test mode (`--test-cut N`, once, for the chosen cut): every public test source and the
project's set (all, A, B) for cut 0 and cut N. Reports go to build/contextual/.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from train import (
    DEFAULT_DATA,
    SENTIMENT_CLASSES,
    HiddenModel,
    Model,
    load_features,
    load_jsonl,
    load_model,
    own_eval_docs,
    own_half,
    pct,
    sentiment_scores,
)

from beacon.contextual.categories import page_tokens

SHIPPED = Path(__file__).parent.parent.parent / "src/beacon/contextual/data/sentiment-head.npz"
SHORT_DEFAULT = "sentiment-head-emb-vader-no_semeval_tweets-hidden256.npz"
CUTS = (32, 64, 100, 150, 250, 400)
FEATURES = {"emb", "vader"}
TEST_SOURCES = ("tweeteval", "sst5", "sst2", "amazon_mds", "sib200_neutral")
# (head for short texts, head for long texts)
Heads = tuple[Model | HiddenModel, Model | HiddenModel]


class Gate:
    """Both heads' scores for a set of documents, and their lengths, so that any cut can be
    applied without scoring again."""

    def __init__(
        self,
        heads: Heads,
        docs: list[dict[str, Any]],
        kind: str,
        data: Path,
    ) -> None:
        features = load_features(docs, data, kind, FEATURES)
        self.short_logits = heads[0].logits(features)
        self.long_logits = heads[1].logits(features)
        self.tokens = np.array(
            [page_tokens(title=d.get("title", ""), text=d["text"]) for d in docs]
        )

    def predict(self, cut: int) -> tuple[list[str], list[str], int]:
        """(labels, forced two-way choices, documents the short head read) at `cut`: the short
        head below `cut` tokens, the long head from it on."""
        short = self.tokens < cut
        logits = np.where(short[:, None], self.short_logits, self.long_logits)
        labels = [SENTIMENT_CLASSES[i] for i in logits.argmax(axis=1)]
        forced = ["negative" if z[0] > z[2] else "positive" for z in logits]
        return labels, forced, int(short.sum())


def agreement(gold: list[str], predicted: list[str]) -> float:
    """Share of equal labels."""
    return float(np.mean([g == p for g, p in zip(gold, predicted, strict=True)]))


def own_docs(halves: tuple[str, ...]) -> list[dict[str, Any]]:
    """The project's documents with a sentiment gold label, in the given halves."""
    return [d for d in own_eval_docs() if d.get("sentiment") and own_half(d["id"]) in halves]


def dev_report(heads: Heads, data: Path, cuts: list[int]) -> dict[str, Any]:
    """Per cut: pooled and per-source dev top-1, half A; and the chosen cut."""
    docs = [d for d in load_jsonl(data / "sentiment.jsonl") if d["split"] == "dev"]
    gold = [d["sentiment"] for d in docs]
    half_a = own_docs(("A",))
    gold_a = [d["sentiment"] for d in half_a]
    gate, own_gate = Gate(heads, docs, "sentiment", data), Gate(heads, half_a, "own-eval", data)
    rows: dict[int, dict[str, Any]] = {}
    for cut in [0, *cuts]:
        predicted, _, n_short = gate.predict(cut)
        own_predicted, _, own_short = own_gate.predict(cut)
        row: dict[str, Any] = {"dev_all": agreement(gold, predicted), "dev_short": n_short}
        for source in sorted({d["source"] for d in docs}):
            keep = [i for i, d in enumerate(docs) if d["source"] == source]
            row[source] = agreement([gold[i] for i in keep], [predicted[i] for i in keep])
        row["half_a"] = agreement(gold_a, own_predicted)
        row["half_a_short"] = own_short
        rows[cut] = row
        print(f"cut {cut}: {json.dumps(row)}", flush=True)
    allowed = [cut for cut in rows if rows[cut]["half_a"] >= rows[0]["half_a"]]
    chosen = max(allowed, key=lambda c: (rows[c]["dev_all"], rows[c]["half_a"], -c))
    return {"rows": rows, "chosen": chosen, "n_dev": len(docs), "n_half_a": len(half_a)}


def test_report(heads: Heads, data: Path, cut: int) -> dict[str, Any]:
    """Cut 0 and `cut` on every public test source and on the project's set (all, A, B)."""
    docs = [d for d in load_jsonl(data / "sentiment.jsonl") if d["split"] == "test"]
    own = own_docs(("A", "B"))
    gate, own_gate = Gate(heads, docs, "sentiment", data), Gate(heads, own, "own-eval", data)
    out: dict[str, Any] = {}
    for candidate in (0, cut):
        predicted, forced, n_short = gate.predict(candidate)
        row: dict[str, Any] = {"test_short": n_short}
        for source in TEST_SOURCES:
            keep = [i for i, d in enumerate(docs) if d["source"] == source]
            row[source] = sentiment_scores(
                [docs[i]["sentiment"] for i in keep],
                [predicted[i] for i in keep],
                [forced[i] for i in keep],
            )
        own_predicted, _, own_short = own_gate.predict(candidate)
        row["own_short"] = own_short
        for half in ("A", "B", "all"):
            keep = [i for i, d in enumerate(own) if half == "all" or own_half(d["id"]) == half]
            row[f"own_{half}"] = agreement(
                [own[i]["sentiment"] for i in keep], [own_predicted[i] for i in keep]
            )
        out[str(candidate)] = row
    return out


def dev_markdown(report: dict[str, Any]) -> str:
    """The dev table (pasted into docs/benchmarks.md)."""
    sources = ("tweeteval", "sst5", "amazon_mds", "sib200_neutral")
    lines = [
        "| cut (tokens) | dev docs on the short head | dev all | "
        + " | ".join(sources)
        + " | half A (short head) |",
        "|---|---|---|" + "---|" * len(sources) + "---|",
    ]
    for cut, row in report["rows"].items():
        name = "0 (shipped)" if cut == 0 else str(cut)
        lines.append(
            f"| {name} | {row['dev_short']} | {pct(row['dev_all'])} | "
            + " | ".join(pct(row[s]) for s in sources)
            + f" | {pct(row['half_a'])} ({row['half_a_short']}) |"
        )
    return "\n".join(lines) + f"\n\nChosen: cut {report['chosen']}.\n"


def test_markdown(report: dict[str, Any]) -> str:
    """The test table: cut 0 and the chosen cut (pasted into docs/benchmarks.md)."""
    lines = [
        "| cut | test docs on the short head | "
        + " | ".join(TEST_SOURCES)
        + " | 243 all | half A | half B |",
        "|---|---|" + "---|" * len(TEST_SOURCES) + "---|---|---|",
    ]
    for cut, row in report.items():
        cells = []
        for source in TEST_SOURCES:
            scores = row[source]
            # Rows labelled only positive/negative: the served label's agreement.
            two_way = source in ("sst2", "amazon_mds")
            cells.append(pct(scores["polar_label_agreement" if two_way else "accuracy"]))
        lines.append(
            f"| {cut} | {row['test_short']} | "
            + " | ".join(cells)
            + f" | {pct(row['own_all'])} | {pct(row['own_A'])} | {pct(row['own_B'])} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    """Dev selection, or the one test read for a chosen cut."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--short", type=Path, default=None, help="head for short texts")
    parser.add_argument("--long", type=Path, default=SHIPPED, help="head for long texts")
    parser.add_argument("--cuts", default=",".join(str(c) for c in CUTS))
    parser.add_argument("--test-cut", type=int, default=None, help="read the test splits once")
    args = parser.parse_args()
    heads = (load_model(args.short or args.data / SHORT_DEFAULT), load_model(args.long))
    if args.test_cut is None:
        report = dev_report(heads, args.data, [int(c) for c in args.cuts.split(",")])
        (args.data / "report-sentiment-gate-dev.json").write_text(json.dumps(report, indent=1))
        print(dev_markdown(report))
    else:
        report = test_report(heads, args.data, args.test_cut)
        (args.data / "report-sentiment-gate-test.json").write_text(json.dumps(report, indent=1))
        print(test_markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
