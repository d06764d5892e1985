"""Train and evaluate the supervised contextual classifier heads (issue 16, classifier v2).

Usage:
    .venv/bin/python bench/contextual/train.py [--data build/contextual] [--compare-engine]
        [--features emb,sparse,lex] [--sentiment [--dev-only] [--exclude-sources a,b]
        [--hidden N] [--class-weights sqrt|balanced] [--score-saved]] [--no-topics]

Sentiment features are emb, sparse and vader (VADER's sentence-averaged scores).

Input is the corpus that `train_data.py` builds (topics.jsonl, sentiment.jsonl). Trains a
multinomial logistic (softmax) regression — numpy only, mini-batch Adam with L2 and
square-root-balanced class weights — over the features of `train_features.py`, chooses the L2
strength and epoch count on the dev split, fits a temperature on the dev split (so reported
confidences are calibrated), and evaluates once on the test split: top-1/top-3, per-category
precision and recall, confusion matrix, expected calibration error (ECE, 15 bins) before and
after temperature scaling, and accuracy/coverage for confidence thresholds. With
`--compare-engine` the current engine (`classify_text`) is scored on the same test split.

Writes <data>/topics-head.npz (the weights), <data>/report-topics.json and
<data>/report-topics.md (and the same for sentiment with --sentiment). Seeded: the same
corpus gives the same weights.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import itertools

from train_features import (
    HASH_DIM,
    Sparse,
    embeddings,
    lexicon_matrix,
    load_jsonl,
    sparse_features,
    vader_matrix,
)

DEFAULT_DATA = Path(__file__).parent.parent.parent / "build" / "contextual"
EVAL_DIR = Path(__file__).parent / "eval"
SEED = 16
BATCH = 256
L2_GRID = (1e-5, 1e-4, 1e-3)
MAX_EPOCHS = 12
LEARNING_RATE = 0.01
HIDDEN_LEARNING_RATE = 0.002
# Class weights: (n / (k n_c)) ** power; 0.5 is square-root balanced, 1.0 fully balanced.
CLASS_WEIGHT_POWERS = {"sqrt": 0.5, "balanced": 1.0}
ECE_BINS = 15
THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass
class Features:
    """Dense block (embedding and/or lexicon columns) plus optional hashed sparse block."""

    dense: np.ndarray
    sparse: Sparse | None

    def batch(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Dense rows, and the sparse rows densified (or None)."""
        return self.dense[rows], self.sparse.dense(rows) if self.sparse is not None else None


@dataclass
class Model:
    """Softmax regression weights."""

    classes: list[str]
    w_dense: np.ndarray
    w_sparse: np.ndarray | None
    bias: np.ndarray
    temperature: float = 1.0

    def logits(self, features: Features, rows: np.ndarray | None = None) -> np.ndarray:
        """Raw scores for the given rows (all rows when None), in chunks."""
        n = features.dense.shape[0]
        rows = np.arange(n) if rows is None else rows
        out = np.empty((len(rows), len(self.classes)), dtype=np.float64)
        for start in range(0, len(rows), 1024):
            chunk = rows[start : start + 1024]
            dense, sparse = features.batch(chunk)
            z = dense @ self.w_dense + self.bias
            if sparse is not None and self.w_sparse is not None:
                z = z + sparse @ self.w_sparse
            out[start : start + len(chunk)] = z
        return out


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def train(
    features: Features,
    y: np.ndarray,
    rows: np.ndarray,
    classes: list[str],
    *,
    l2: float,
    epochs: int,
    dev: tuple[np.ndarray, np.ndarray] | None = None,
    class_power: float = 0.5,
) -> tuple[Model, list[float]]:
    """Mini-batch Adam on weighted cross-entropy; returns the model and dev top-1 per epoch."""
    rng = np.random.default_rng(SEED)
    k = len(classes)
    d = features.dense.shape[1]
    model = Model(
        classes,
        np.zeros((d, k), dtype=np.float32),
        np.zeros((HASH_DIM, k), dtype=np.float32) if features.sparse is not None else None,
        np.zeros(k, dtype=np.float32),
    )
    class_weight = balanced_class_weights(y, rows, k, class_power)
    adam = Adam([p for p in (model.w_dense, model.w_sparse, model.bias) if p is not None],
                LEARNING_RATE)  # fmt: skip
    history: list[float] = []
    for _ in range(epochs):
        for batch in minibatches(rng, rows):
            dense, sparse = features.batch(batch)
            z = dense @ model.w_dense + model.bias
            if sparse is not None and model.w_sparse is not None:
                z = z + sparse @ model.w_sparse
            p = softmax(z)
            p[np.arange(len(batch)), y[batch]] -= 1.0
            g = (p * class_weight[y[batch]][:, None] / len(batch)).astype(np.float32)
            grads = [dense.T @ g + l2 * model.w_dense]
            if sparse is not None and model.w_sparse is not None:
                grads.append(sparse.T @ g + l2 * model.w_sparse)
            grads.append(g.sum(axis=0))
            adam.update(grads)
        if dev is not None:
            dev_rows, dev_y = dev
            history.append(float((model.logits(features, dev_rows).argmax(1) == dev_y).mean()))
    return model, history


class Adam:
    """Adam (β 0.9 / 0.999) over a list of parameter arrays, updated in place."""

    def __init__(self, params: Sequence[np.ndarray], learning_rate: float) -> None:
        self.params = list(params)
        self.moments = [(np.zeros_like(p), np.zeros_like(p)) for p in self.params]
        self.learning_rate = learning_rate
        self.steps = 0

    def update(self, grads: Sequence[np.ndarray]) -> None:
        """One step with these gradients, in the order of ``params``."""
        self.steps += 1
        for param, grad, (m, v) in zip(self.params, grads, self.moments, strict=True):
            m *= 0.9
            m += 0.1 * grad
            v *= 0.999
            v += 0.001 * grad * grad
            m_hat = m / (1 - 0.9**self.steps)
            v_hat = v / (1 - 0.999**self.steps)
            param -= self.learning_rate * m_hat / (np.sqrt(v_hat) + 1e-8)


def balanced_class_weights(
    y: np.ndarray, rows: np.ndarray, k: int, power: float = 0.5
) -> np.ndarray:
    """Weight of each of ``k`` classes over the training ``rows``: (n / (k n_c)) ** power, so
    0.5 (the default) is square-root balanced and 1.0 fully balanced."""
    counts = np.bincount(y[rows], minlength=k).astype(np.float64)
    return np.asarray((counts.sum() / (k * np.maximum(counts, 1))) ** power)


def minibatches(rng: np.random.Generator, rows: np.ndarray) -> Iterator[np.ndarray]:
    """One epoch of ``rows`` in a random order, BATCH at a time."""
    order = rng.permutation(rows)
    for start in range(0, len(order), BATCH):
        yield order[start : start + BATCH]


@dataclass
class HiddenModel:
    """One ReLU layer, then softmax regression: logits = relu(x W1 + b1) W2 + b2."""

    classes: list[str]
    w_hidden: np.ndarray
    b_hidden: np.ndarray
    w_dense: np.ndarray
    bias: np.ndarray
    temperature: float = 1.0

    def logits(self, features: Features, rows: np.ndarray | None = None) -> np.ndarray:
        """Raw scores for the given rows (all rows when None)."""
        x = features.dense if rows is None else features.dense[rows]
        return np.asarray(
            np.maximum(x @ self.w_hidden + self.b_hidden, 0) @ self.w_dense + self.bias,
            dtype=np.float64,
        )


def train_hidden(
    x: np.ndarray,
    y: np.ndarray,
    rows: np.ndarray,
    classes: list[str],
    *,
    hidden: int,
    l2: float,
    epochs: int,
    dev: tuple[np.ndarray, np.ndarray] | None = None,
    class_power: float = 0.5,
    seed: int = SEED,
) -> tuple[HiddenModel, list[float]]:
    """Mini-batch Adam on the same class-weighted cross-entropy as `train`, through one ReLU
    layer of `hidden` units (He-initialised); `seed` draws the initial weights and the batch
    order."""
    rng = np.random.default_rng(seed)
    k, d = len(classes), x.shape[1]
    model = HiddenModel(
        classes,
        (rng.standard_normal((d, hidden)) * np.sqrt(2 / d)).astype(np.float32),
        np.zeros(hidden, dtype=np.float32),
        (rng.standard_normal((hidden, k)) * np.sqrt(1 / hidden)).astype(np.float32),
        np.zeros(k, dtype=np.float32),
    )
    class_weight = balanced_class_weights(y, rows, k, class_power)
    adam = Adam([model.w_hidden, model.b_hidden, model.w_dense, model.bias], HIDDEN_LEARNING_RATE)
    history: list[float] = []
    for _ in range(epochs):
        for batch in minibatches(rng, rows):
            h_in = x[batch] @ model.w_hidden + model.b_hidden
            h = np.maximum(h_in, 0)
            p = softmax(h @ model.w_dense + model.bias)
            p[np.arange(len(batch)), y[batch]] -= 1.0
            g = (p * class_weight[y[batch]][:, None] / len(batch)).astype(np.float32)
            g_h = (g @ model.w_dense.T) * (h_in > 0)
            grads = [x[batch].T @ g_h + l2 * model.w_hidden, g_h.sum(axis=0),
                     h.T @ g + l2 * model.w_dense, g.sum(axis=0)]  # fmt: skip
            adam.update(grads)
        if dev is not None:
            dev_rows, dev_y = dev
            logits = model.logits(Features(x, None), dev_rows)
            history.append(float((logits.argmax(1) == dev_y).mean()))
    return model, history


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising negative log-likelihood (grid 0.05..10, log-spaced)."""
    best, best_nll = 1.0, math.inf
    for t in np.exp(np.linspace(math.log(0.05), math.log(10.0), 160)):
        p = softmax(logits / t)
        nll = float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error of top-1 confidences."""
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        mask = (confidence > lo) & (confidence <= hi)
        if mask.any():
            total += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(total)


def reliability(confidence: np.ndarray, correct: np.ndarray) -> list[tuple[str, int, float]]:
    """(bin, n, accuracy) for ten confidence bins."""
    rows = []
    for b in range(10):
        lo, hi = b / 10, (b + 1) / 10
        mask = (confidence > lo) & (confidence <= hi)
        if mask.any():
            rows.append((f"{lo:.1f}-{hi:.1f}", int(mask.sum()), float(correct[mask].mean())))
    return rows


def per_category(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Precision, recall and support per gold label."""
    result = {}
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        predicted_n = sum(p == label for p in predicted)
        support = sum(g == label for g in gold)
        result[label] = {
            "precision": tp / predicted_n if predicted_n else 0.0,
            "recall": tp / support if support else 0.0,
            "support": support,
        }
    return result


def load_features(
    docs: list[dict[str, Any]], data: Path, kind: str, feature_set: set[str]
) -> Features:
    """Features of `docs` for the chosen feature set (emb, sparse, lex)."""
    blocks = []
    if "emb" in feature_set:
        blocks.append(embeddings(docs, data / f"embeddings-{kind}.npz"))
    if "lex" in feature_set:
        blocks.append(lexicon_matrix(docs))
    if "vader" in feature_set:
        blocks.append(vader_matrix(docs))
    dense = (
        np.concatenate(blocks, axis=1).astype(np.float32)
        if blocks
        else np.zeros((len(docs), 0), np.float32)
    )
    return Features(dense, sparse_features(docs) if "sparse" in feature_set else None)


class Trainable(Protocol):
    """A head `select_on_dev` can tune: raw scores for rows, and a temperature to set."""

    temperature: float

    def logits(self, features: Features, rows: np.ndarray | None = None) -> np.ndarray: ...


Head = TypeVar("Head", bound=Trainable)
# fit(train rows, l2=..., epochs=..., dev=(dev rows, their labels) or None) -> model, dev top-1s
Fit = Callable[..., tuple[Head, list[float]]]


def select_on_dev(
    fit: Fit[Head],
    features: Features,
    y: np.ndarray,
    splits: np.ndarray,
    l2_grid: Sequence[float] = L2_GRID,
) -> tuple[Head, dict[str, Any]]:
    """Choose L2 and epochs on dev, retrain on train, fit the temperature on dev."""
    train_rows = np.flatnonzero(splits == "train")
    dev_rows = np.flatnonzero(splits == "dev")
    search = {}
    best: tuple[float, float, int] = (-1.0, 0.0, 0)
    for l2 in l2_grid:
        _, history = fit(train_rows, l2=l2, epochs=MAX_EPOCHS, dev=(dev_rows, y[dev_rows]))
        search[str(l2)] = [round(h, 4) for h in history]
        epoch = int(np.argmax(history)) + 1
        print(f"  l2={l2:g}: dev top-1 by epoch {search[str(l2)]}", flush=True)
        if history[epoch - 1] > best[0]:
            best = (history[epoch - 1], l2, epoch)
    _, l2, epochs = best
    model, _ = fit(train_rows, l2=l2, epochs=epochs)
    model.temperature = fit_temperature(model.logits(features, dev_rows), y[dev_rows])
    return model, {
        "l2": l2,
        "epochs": epochs,
        "dev_search": search,
        "temperature": model.temperature,
    }


def select_and_train(
    features: Features,
    y: np.ndarray,
    splits: np.ndarray,
    classes: list[str],
    l2_grid: Sequence[float] = L2_GRID,
    class_power: float = 0.5,
) -> tuple[Model, dict[str, Any]]:
    """The softmax head with L2 and epochs chosen on dev (`select_on_dev`)."""

    def fit(rows: np.ndarray, **options: Any) -> tuple[Model, list[float]]:
        return train(features, y, rows, classes, class_power=class_power, **options)

    return select_on_dev(fit, features, y, splits, l2_grid)


def select_and_train_hidden(
    x: np.ndarray,
    y: np.ndarray,
    splits: np.ndarray,
    classes: list[str],
    hidden: int,
    l2_grid: Sequence[float] = L2_GRID,
    class_power: float = 0.5,
    seed: int = SEED,
) -> tuple[HiddenModel, dict[str, Any]]:
    """`select_and_train` for the hidden-layer head: L2 and epochs on dev, temperature."""

    def fit(rows: np.ndarray, **options: Any) -> tuple[HiddenModel, list[float]]:
        return train_hidden(
            x, y, rows, classes, hidden=hidden, class_power=class_power, seed=seed, **options
        )

    return select_on_dev(fit, Features(x, None), y, splits, l2_grid)


def evaluate_model(
    model: Model, features: Features, y: np.ndarray, rows: np.ndarray
) -> dict[str, Any]:
    """Top-1/top-3, calibration and threshold table on `rows`."""
    logits = model.logits(features, rows)
    raw = softmax(logits)
    calibrated = softmax(logits / model.temperature)
    gold = y[rows]
    order = np.argsort(-calibrated, axis=1)
    correct = order[:, 0] == gold
    top3 = (order[:, :3] == gold[:, None]).any(axis=1)
    conf = calibrated.max(axis=1)
    thresholds = []
    for t in THRESHOLDS:
        kept = conf >= t
        thresholds.append(
            {"threshold": t, "coverage": float(kept.mean()),
             "accuracy": float(correct[kept].mean()) if kept.any() else None}
        )  # fmt: skip
    return {
        "n": len(rows),
        "top1": float(correct.mean()),
        "top3": float(top3.mean()),
        "ece_raw": ece(raw.max(axis=1), order[:, 0] == gold),
        "ece_calibrated": ece(conf, correct),
        "reliability": reliability(conf, correct),
        "thresholds": thresholds,
        "predicted": [model.classes[i] for i in order[:, 0]],
        "top3_predicted": [[model.classes[i] for i in row[:3]] for row in order],
    }


def engine_predictions(docs: list[dict[str, Any]], cache: Path) -> dict[str, list[str]]:
    """The current engine's tier-1 codes (best first) per document id, cached by version."""
    from beacon.contextual.engine import ENGINE_VERSION, classify_text

    path = cache.with_name(f"{cache.stem}-{ENGINE_VERSION}.json")
    known: dict[str, list[str]] = json.loads(path.read_text()) if path.exists() else {}
    started = time.monotonic()
    for i, doc in enumerate(d for d in docs if d["id"] not in known):
        result = classify_text(text=doc["text"], title=doc.get("title", ""))
        known[doc["id"]] = [c.id.split("-")[0] for c in result.iab_categories]
        if (i + 1) % 500 == 0:
            print(f"  engine {i + 1} docs ({(i + 1) / (time.monotonic() - started):.0f}/s)")
            path.write_text(json.dumps(known))
    path.write_text(json.dumps(known))
    return known


def breakdown(
    docs: list[dict[str, Any]], rows: np.ndarray, hits: np.ndarray, key: str
) -> dict[str, tuple[int, int]]:
    """(hits, n) per value of docs[row][key]."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row, hit in zip(rows, hits, strict=True):
        bucket = out[docs[row][key]]
        bucket[0] += int(hit)
        bucket[1] += 1
    return {k: (v[0], v[1]) for k, v in sorted(out.items())}


def run_topics(
    data: Path, feature_set: set[str], compare_engine: bool, l2_grid: Sequence[float] = L2_GRID
) -> dict[str, Any]:
    """Train, calibrate and evaluate the topic head; write weights and report."""
    docs = load_jsonl(data / "topics.jsonl")
    classes = sorted({doc["tier1"] for doc in docs}, key=lambda c: int(c[3:]))
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[doc["tier1"]] for doc in docs])
    splits = np.array([doc["split"] for doc in docs])
    print(f"topics: {len(docs)} documents, {len(classes)} tier-1 classes", flush=True)
    features = load_features(docs, data, "topics", feature_set)
    model, selection = select_and_train(features, y, splits, classes, l2_grid)
    test_rows = np.flatnonzero(splits == "test")
    metrics = evaluate_model(model, features, y, test_rows)
    gold = [classes[i] for i in y[test_rows]]
    hits = np.array([g == p for g, p in zip(gold, metrics["predicted"], strict=True)])
    report: dict[str, Any] = {
        "features": sorted(feature_set),
        "classes": classes,
        "selection": selection,
        "train_documents": int((splits == "train").sum()),
        "dev_documents": int((splits == "dev").sum()),
        **{k: v for k, v in metrics.items() if k not in ("predicted", "top3_predicted")},
        "by_source": breakdown(docs, test_rows, hits, "source"),
        "by_language": breakdown(docs, test_rows, hits, "language"),
        "per_category": per_category(gold, metrics["predicted"], classes),
        "confusion": Counter(
            f"{g}->{p}" for g, p in zip(gold, metrics["predicted"], strict=True) if g != p
        ).most_common(25),
        "confusion_matrix": confusion_matrix(gold, metrics["predicted"], classes),
    }
    if compare_engine:
        engine = engine_predictions([docs[i] for i in test_rows], data / "engine")
        predicted = [(engine[docs[i]["id"]] or ["none"])[0] for i in test_rows]
        engine_hits = np.array([g == p for g, p in zip(gold, predicted, strict=True)])
        report["engine"] = {
            "top1": float(engine_hits.mean()),
            "top3": float(
                np.mean(
                    [g in engine[docs[i]["id"]][:3] for g, i in zip(gold, test_rows, strict=True)]
                )
            ),
            "none": float(np.mean([p == "none" for p in predicted])),
            "hybrid_top1": float(
                np.mean(
                    [
                        g == p
                        for g, p in zip(
                            gold, hybrid(predicted, metrics["predicted"], classes), strict=True
                        )
                    ]
                )
            ),
            "by_source": breakdown(docs, test_rows, engine_hits, "source"),
            "by_language": breakdown(docs, test_rows, engine_hits, "language"),
            "per_category": per_category(gold, predicted, classes),
        }
    report["own_eval_set"] = own_eval(model, feature_set, data)
    suffix = "-".join(sorted(feature_set))
    save_model(model, data / f"topics-head-{suffix}.npz", feature_set)
    (data / f"report-topics-{suffix}.json").write_text(json.dumps(report, indent=1))
    (data / f"report-topics-{suffix}.md").write_text(markdown(report))
    return report


def pct(value: float | None) -> str:
    """A share as the reports print it (one decimal), "-" when there is none."""
    return "-" if value is None else f"{value:.1%}"


def markdown(report: dict[str, Any]) -> str:
    """The topic report as Markdown tables (pasted into docs/benchmarks.md)."""
    classes = report["classes"]
    engine = report.get("engine")
    lines = [
        f"Features: {', '.join(report['features'])}; L2 {report['selection']['l2']:g}, "
        f"{report['selection']['epochs']} epochs, temperature "
        f"{report['selection']['temperature']:.2f}; {report['train_documents']} train, "
        f"{report['dev_documents']} dev, {report['n']} test documents.",
        "",
        "| test split | n | head top-1 | head top-3 | engine top-1 | engine top-3 |",
        "|---|---|---|---|---|---|",
    ]
    eng = (engine["top1"], engine["top3"]) if engine else (None, None)
    lines.append(
        f"| all | {report['n']} | {pct(report['top1'])} | {pct(report['top3'])} | "
        f"{pct(eng[0])} | {pct(eng[1])} |"
    )
    for group in ("by_source", "by_language"):
        for key, (hits, n) in report[group].items():
            engine_cell = "-"
            if engine:
                e_hits, e_n = engine[group][key]
                engine_cell = pct(e_hits / e_n)
            lines.append(f"| {key} | {n} | {pct(hits / n)} | | {engine_cell} | |")
    lines += [
        "",
        f"Calibration: ECE {report['ece_raw']:.3f} before, {report['ece_calibrated']:.3f} "
        "after temperature scaling (15 bins, top-1 confidence).",
        "",
        "| confidence ≥ | coverage | top-1 on covered |",
        "|---|---|---|",
    ]
    for row in report["thresholds"]:
        lines.append(
            f"| {row['threshold']:.1f} | {pct(row['coverage'])} | {pct(row['accuracy'])} |"
        )
    lines += ["", "| tier-1 | n | head precision | head recall | engine precision | engine recall |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for code in classes:
        row = report["per_category"][code]
        e = engine["per_category"][code] if engine else None
        lines.append(
            f"| {code} | {row['support']} | {pct(row['precision'])} | {pct(row['recall'])} | "
            f"{pct(e['precision']) if e else '-'} | {pct(e['recall']) if e else '-'} |"
        )
    lines += ["", "Confusion matrix of the head (rows gold, columns predicted):", "",
              "| gold \\ predicted | " + " | ".join(classes) + " |",
              "|---" * (len(classes) + 1) + "|"]  # fmt: skip
    for code, counts in zip(classes, report["confusion_matrix"], strict=True):
        lines.append(f"| {code} | " + " | ".join(str(c) for c in counts) + " |")
    own = report["own_eval_set"]
    lines += [
        "",
        f"Project evaluation set (243 documents, 22 tier-1): head top-1 {pct(own['top1'])}; "
        f"on the {own['n_known_classes']} documents of the head's {len(classes)} classes "
        f"{pct(own['top1_known_classes'])}; current engine {pct(own['engine_top1'])}; "
        f"hybrid (engine where it names a tier-1 the head lacks, else head) "
        f"{pct(own['hybrid_top1'])}.",
    ]
    if engine:
        lines.append(f"Hybrid on the test split: top-1 {pct(engine['hybrid_top1'])}.")
    own = report["own_eval_set"]
    lines += [
        "",
        "Project evaluation set (article-style, 3-way): "
        + "; ".join(
            f"{half} (n={own[half]['n']}) head {pct(own[half]['head'])}, VADER rule "
            f"{pct(own[half]['vader'])}"
            for half in ("A", "B", "all")
        )
        + ".",
    ]
    return "\n".join(lines) + "\n"


def own_eval(model: Model, feature_set: set[str], data: Path) -> dict[str, Any]:
    """Top-1 on the project's 243-document set (all of it, and the part whose gold class the
    head knows)."""
    docs = own_eval_docs()
    features = load_features(docs, data, "own-eval", feature_set)
    predicted = [model.classes[i] for i in model.logits(features).argmax(axis=1)]
    hits = [p == doc["tier1"] for p, doc in zip(predicted, docs, strict=True)]
    known = [h for h, doc in zip(hits, docs, strict=True) if doc["tier1"] in model.classes]
    engine = engine_predictions(docs, data / "engine-own")
    engine_top = [(engine[doc["id"]] or ["none"])[0] for doc in docs]
    mixed = hybrid(engine_top, predicted, model.classes)
    return {
        "n": len(docs),
        "top1": sum(hits) / len(docs),
        "n_known_classes": len(known),
        "top1_known_classes": sum(known) / len(known) if known else None,
        "engine_top1": float(
            np.mean([p == d["tier1"] for p, d in zip(engine_top, docs, strict=True)])
        ),
        "hybrid_top1": float(np.mean([p == d["tier1"] for p, d in zip(mixed, docs, strict=True)])),
    }


def own_half(doc_id: str) -> str:
    """The half of the project's set a document belongs to: "A" (the last digit of its id is
    odd), on which `blend.py` chooses the topic blend's knobs and `calibrate.py` fits its maps,
    or "B", which neither looks at (`calibrate.py`'s evaluation half). One function for both
    scripts, so no page that chose the knobs is scored as held out (session 14's review)."""
    return "A" if int(doc_id[-1]) % 2 == 1 else "B"


def own_eval_docs() -> list[dict[str, Any]]:
    """The project's evaluation documents (bench/contextual/eval), ids prefixed "own-"."""
    docs = []
    for path in sorted(EVAL_DIR.glob("*.jsonl")):
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if line.strip():
                doc = json.loads(line)
                doc.setdefault("id", f"{path.stem}-{i}")
                doc["id"] = f"own-{doc['id']}"
                docs.append(doc)
    return docs


def own_eval_sentiment(
    model: Model | HiddenModel, feature_set: set[str], data: Path
) -> dict[str, Any]:
    """Three-way agreement of the head and of the VADER rule on the project's article-style
    documents, by half (A: odd ids, B: even ids)."""
    docs = [doc for doc in own_eval_docs() if doc.get("sentiment")]
    features = load_features(docs, data, "own-eval", feature_set)
    predicted = [SENTIMENT_CLASSES[i] for i in model.logits(features).argmax(axis=1)]
    vader, _ = vader_baseline(docs, np.arange(len(docs)))
    out: dict[str, Any] = {}
    for half, keep in (("A", 1), ("B", 0), ("all", None)):
        rows = [i for i, d in enumerate(docs) if keep is None or int(d["id"][-1]) % 2 == keep]
        gold = [docs[i]["sentiment"] for i in rows]
        out[half] = {
            "n": len(rows),
            "head": float(np.mean([predicted[i] == g for i, g in zip(rows, gold, strict=True)])),
            "vader": float(np.mean([vader[i] == g for i, g in zip(rows, gold, strict=True)])),
            "head_macro_f1": macro_f1(gold, [predicted[i] for i in rows], SENTIMENT_CLASSES),
        }
    out["head_confusion"] = Counter(
        f"{d['sentiment']}->{p}" for d, p in zip(docs, predicted, strict=True)
    ).most_common()
    return out


def hybrid(engine_top: Sequence[str], head_top: Sequence[str], classes: Sequence[str]) -> list[str]:
    """The engine's answer where it names a tier-1 the head was never trained on, else the
    head's: a stop-gap while ten tier-1 categories lack training data."""
    known = set(classes)
    return [
        e if e != "none" and e not in known else h
        for e, h in zip(engine_top, head_top, strict=True)
    ]


def confusion_matrix(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]
) -> list[list[int]]:
    """Rows gold, columns predicted, in `labels` order."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, predicted, strict=True):
        matrix[index[g]][index[p]] += 1
    return matrix


def head_arrays(model: Model | HiddenModel) -> dict[str, Any]:
    """A dense head's arrays as contextual/heads.py loads them: classes, softmax weights, bias,
    temperature, and the ReLU layer's weights and bias if it has one."""
    arrays: dict[str, Any] = {
        "classes": np.array(model.classes),
        "weights": model.w_dense.astype(np.float32),
        "bias": model.bias.astype(np.float32),
        "temperature": np.array(model.temperature),
    }
    if isinstance(model, HiddenModel):
        arrays["hidden_weights"] = model.w_hidden.astype(np.float32)
        arrays["hidden_bias"] = model.b_hidden.astype(np.float32)
    return arrays


def save_model(model: Model | HiddenModel, path: Path, feature_set: set[str]) -> None:
    """The weights as .npz (sparse block in float16: ~0.9 MB; a hidden layer's arrays as
    contextual/heads.py reads them)."""
    arrays: dict[str, Any] = {
        "classes": np.array(model.classes),
        "w_dense": model.w_dense,
        "bias": model.bias,
        "temperature": np.array(model.temperature),
        "features": np.array(sorted(feature_set)),
        "hash_dim": np.array(HASH_DIM),
    }
    if isinstance(model, HiddenModel):
        arrays["hidden_weights"] = model.w_hidden.astype(np.float32)
        arrays["hidden_bias"] = model.b_hidden.astype(np.float32)
    elif model.w_sparse is not None:
        arrays["w_sparse"] = model.w_sparse.astype(np.float16)
    np.savez_compressed(path, **arrays)


def load_model(path: Path) -> Model | HiddenModel:
    """A head `save_model` wrote (dense features only)."""
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    classes = [str(c) for c in arrays["classes"]]
    temperature = float(arrays["temperature"])
    if "hidden_weights" in arrays:
        return HiddenModel(classes, arrays["hidden_weights"], arrays["hidden_bias"],
                           arrays["w_dense"], arrays["bias"], temperature)  # fmt: skip
    if "w_sparse" in arrays:
        raise ValueError(f"{path}: heads with a sparse block are not read back")
    return Model(classes, arrays["w_dense"], None, arrays["bias"], temperature)


SENTIMENT_CLASSES = ["negative", "neutral", "positive"]
# Test sources scored three-way, and the ones labelled only positive/negative (two-way).
THREE_WAY_SOURCES = ("tweeteval", "sst5")
TWO_WAY_SOURCES = ("sst2", "amazon_mds")


def macro_f1(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> float:
    """Unweighted mean of the per-label F1 over `labels`."""
    scores = []
    for row in per_category(gold, predicted, labels).values():
        p, r = row["precision"], row["recall"]
        scores.append(2 * p * r / (p + r) if p + r else 0.0)
    return float(np.mean(scores))


def sentiment_scores(
    gold: Sequence[str], predicted: Sequence[str], forced: Sequence[str]
) -> dict[str, Any]:
    """Three-way accuracy and macro-F1; on the positive/negative-only rows, the agreement of
    the served label (a neutral answer counts as a miss) and of the forced two-way choice."""
    polar = [i for i, g in enumerate(gold) if g != "neutral"]
    return {
        "n": len(gold),
        "accuracy": float(np.mean([g == p for g, p in zip(gold, predicted, strict=True)])),
        "macro_f1": macro_f1(gold, predicted, SENTIMENT_CLASSES),
        "n_polar": len(polar),
        "polar_label_agreement": float(np.mean([gold[i] == predicted[i] for i in polar])),
        "polar_two_way_agreement": float(np.mean([gold[i] == forced[i] for i in polar])),
        "predicted_neutral_on_polar": float(np.mean([predicted[i] == "neutral" for i in polar])),
    }


def vader_baseline(docs: list[dict[str, Any]], rows: np.ndarray) -> tuple[list[str], list[str]]:
    """The VADER rule's labels (what the engine served before the head), and its forced
    two-way choice (the sign of the compound score)."""
    from beacon.contextual import sentiment as current

    labels, forced = [], []
    for i in rows:
        result = current.vader_rule(text=docs[i]["text"], title=docs[i].get("title", ""))
        labels.append(result.label)
        forced.append("positive" if result.score >= 0.5 else "negative")
    return labels, forced


def run_sentiment(
    data: Path,
    feature_set: set[str],
    l2_grid: Sequence[float] = L2_GRID,
    *,
    test: bool = True,
    exclude: frozenset[str] = frozenset(),
    hidden: int = 0,
    class_weights: str = "sqrt",
    saved: bool = False,
) -> dict[str, Any]:
    """Train the 3-way sentiment head (L2, epochs and temperature chosen on dev); with `test`,
    score it once per test source beside the VADER rule, else report dev only (ablations).
    Sources in `exclude` are left out of training (ablations). `hidden` > 0 puts a ReLU layer
    of that many units before the softmax; `class_weights` names a CLASS_WEIGHT_POWERS entry.
    With `saved`, the head (and its dev selection) that a dev-only run with the same options
    saved is scored instead of training it again: select on dev first, then read the test
    split once."""
    suffix = "-".join(
        sorted(feature_set & {"emb", "sparse", "vader"})
        + [f"no_{name}" for name in sorted(exclude)]
        + ([f"hidden{hidden}"] if hidden else [])
        + ([class_weights] if class_weights != "sqrt" else [])
    )
    head_path = data / f"sentiment-head-{suffix}.npz"
    report_path = data / f"report-sentiment-{suffix}.json"
    docs = [d for d in load_jsonl(data / "sentiment.jsonl") if d["source"] not in exclude]
    features_used = feature_set & {"emb", "sparse", "vader"}
    index = {c: i for i, c in enumerate(SENTIMENT_CLASSES)}
    y = np.array([index[doc["sentiment"]] for doc in docs])
    splits = np.array([doc["split"] for doc in docs])
    sources = np.array([doc["source"] for doc in docs])
    print(f"sentiment: {len(docs)} documents, features {sorted(features_used)}", flush=True)
    features = load_features(docs, data, "sentiment", features_used)
    power = CLASS_WEIGHT_POWERS[class_weights]
    model: Model | HiddenModel
    if saved:
        model = load_model(head_path)
        selection = json.loads(report_path.read_text())["selection"]
    elif hidden:
        model, selection = select_and_train_hidden(
            features.dense, y, splits, SENTIMENT_CLASSES, hidden, l2_grid, power
        )
    else:
        model, selection = select_and_train(features, y, splits, SENTIMENT_CLASSES, l2_grid, power)
    report: dict[str, Any] = {
        "features": sorted(features_used),
        "hidden": hidden,
        "class_weights": class_weights,
        "selection": selection,
        "train_by_source": dict(Counter(sources[splits == "train"].tolist())),
    }
    dev_rows = np.flatnonzero(splits == "dev")
    dev_predicted = model.logits(features, dev_rows).argmax(axis=1)
    report["dev"] = {
        source: float((dev_predicted == y[dev_rows])[sources[dev_rows] == source].mean())
        for source in sorted(set(sources[dev_rows].tolist()))
    }
    report["dev"]["all"] = float((dev_predicted == y[dev_rows]).mean())
    report["own_eval_set"] = own_eval_sentiment(model, features_used, data)
    if test:
        for source in (*THREE_WAY_SOURCES, *TWO_WAY_SOURCES):
            rows = np.flatnonzero((splits == "test") & (sources == source))
            logits = model.logits(features, rows)
            gold = [SENTIMENT_CLASSES[i] for i in y[rows]]
            predicted = [SENTIMENT_CLASSES[i] for i in logits.argmax(axis=1)]
            forced = ["negative" if z[0] > z[2] else "positive" for z in logits]
            vader_labels, vader_forced = vader_baseline(docs, rows)
            calibrated = softmax(logits / model.temperature)
            report[source] = {
                "head": sentiment_scores(gold, predicted, forced),
                "vader": sentiment_scores(gold, vader_labels, vader_forced),
                "ece_calibrated": ece(calibrated.max(axis=1), calibrated.argmax(axis=1) == y[rows]),
                "confusion_matrix": confusion_matrix(gold, predicted, SENTIMENT_CLASSES),
            }
    if not saved:
        save_model(model, head_path, features_used)
    report_path.write_text(json.dumps(report, indent=1))
    if test:
        (data / f"report-sentiment-{suffix}.md").write_text(sentiment_markdown(report))
    return report


def sentiment_markdown(report: dict[str, Any]) -> str:
    """The sentiment test report as Markdown tables (pasted into docs/benchmarks.md)."""
    selection = report["selection"]
    lines = [
        f"Features: {', '.join(report['features'])}; hidden units {report['hidden']}, "
        f"class weights {report['class_weights']}; L2 {selection['l2']:g}, "
        f"{selection['epochs']} epochs, temperature {selection['temperature']:.2f}; "
        f"train documents by source {report['train_by_source']}.",
        "",
        "| test source | n | head acc. | head macro-F1 | VADER acc. | VADER macro-F1 |",
        "|---|---|---|---|---|---|",
    ]
    for source in THREE_WAY_SOURCES:
        head, vader = report[source]["head"], report[source]["vader"]
        lines.append(
            f"| {source} (3-way) | {head['n']} | {pct(head['accuracy'])} | "
            f"{head['macro_f1']:.3f} | {pct(vader['accuracy'])} | {vader['macro_f1']:.3f} |"
        )
    lines += [
        "",
        "Positive/negative-only rows: the served label's agreement (a neutral answer is a "
        "miss), the forced two-way choice, and how often neutral was answered:",
        "",
        "| test rows | n | head label | head 2-way | head neutral | VADER label | VADER 2-way "
        "| VADER neutral |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for source in (*THREE_WAY_SOURCES, *TWO_WAY_SOURCES):
        head, vader = report[source]["head"], report[source]["vader"]
        lines.append(
            f"| {source} | {head['n_polar']} | {pct(head['polar_label_agreement'])} | "
            f"{pct(head['polar_two_way_agreement'])} | "
            f"{pct(head['predicted_neutral_on_polar'])} | "
            f"{pct(vader['polar_label_agreement'])} | {pct(vader['polar_two_way_agreement'])} "
            f"| {pct(vader['predicted_neutral_on_polar'])} |"
        )
    own = report["own_eval_set"]
    lines += [
        "",
        "Project evaluation set (article-style, 3-way): "
        + "; ".join(
            f"{half} (n={own[half]['n']}) head {pct(own[half]['head'])}, VADER rule "
            f"{pct(own[half]['vader'])}"
            for half in ("A", "B", "all")
        )
        + ".",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Train the heads and print the reports."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--features", default="emb,sparse,lex")
    parser.add_argument("--compare-engine", action="store_true")
    parser.add_argument("--sentiment", action="store_true", help="train the sentiment head too")
    parser.add_argument(
        "--dev-only", action="store_true", help="sentiment: report dev only (for ablations)"
    )
    parser.add_argument("--exclude-sources", default="", help="sentiment: sources left out")
    parser.add_argument("--no-topics", action="store_true")
    parser.add_argument("--l2", default=",".join(str(v) for v in L2_GRID), help="L2 grid")
    parser.add_argument(
        "--score-saved", action="store_true",
        help="sentiment: score the head a --dev-only run with the same options saved",
    )  # fmt: skip
    parser.add_argument(
        "--hidden", type=int, default=0, help="sentiment: ReLU units before the softmax (0: none)"
    )
    parser.add_argument(
        "--class-weights", choices=sorted(CLASS_WEIGHT_POWERS), default="sqrt",
        help="sentiment: square-root or fully balanced class weights",
    )  # fmt: skip
    args = parser.parse_args()
    feature_set = set(args.features.split(","))
    l2_grid = [float(v) for v in args.l2.split(",")]
    if not args.no_topics:
        report = run_topics(args.data, feature_set, args.compare_engine, l2_grid)
        print(json.dumps({k: v for k, v in report.items() if k != "confusion_matrix"}, indent=1))
    if args.sentiment:
        exclude = frozenset(filter(None, args.exclude_sources.split(",")))
        report = run_sentiment(
            args.data, feature_set, l2_grid, test=not args.dev_only, exclude=exclude,
            hidden=args.hidden, class_weights=args.class_weights, saved=args.score_saved,
        )  # fmt: skip
        print(json.dumps({k: v for k, v in report.items() if k != "selection"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
