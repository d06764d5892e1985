"""Blend the English engine with a trained embedding-only topic head (issue 16, session 10).

Usage:
    .venv/bin/python bench/contextual/blend.py [--data build/contextual] [--max-train N]
        [--hidden UNITS] [--seed N] [--dev-only | --reuse-candidate | --shipped |
        --shipped-head] [--write-topics-head]

Trains a softmax head (train.py's trainer: L2 and epochs chosen on dev, temperature fitted on
dev; with `--hidden` one ReLU layer of that many units before the softmax, train.py's
`train_hidden`, `--seed` drawing its initial weights and batch order) over the MiniLM page
embedding only — the vector `semantic.page_embedding` computes at run time, which the engine
already has for every English page — on the English documents of the corpus `train_data.py`
builds (train split, all 23 topic tier-1 categories). It then
blends the head's probabilities with the engine's re-ranked tier-1 scores
(`categories.blend`) and chooses the blend's knobs on DEV DATA ONLY: the public dev split
plus half A (odd ids) of the project's evaluation set (bench/contextual/eval). Selection rule,
fixed before looking at any test number: among the knob settings whose half-A top-1 is at
most one document below the engine's and whose half-A top-3 is at most one document below
the engine's, take the one with the best public-dev top-1 (ties: the better half-A top-1,
then the smaller head weight; session 14: then the smaller long-page weight, then the length
knob off before a larger `long_tokens`).

Session 14 adds a length knob: pages of at least `long_tokens` folded tokens (title + text,
`categories.page_tokens`) are blended with head weight `long_weight`, shorter ones with
`weight` (off: one weight). The grid crosses `long_tokens` ∈ {off, LONG_TOKENS} and
`long_weight` ∈ WEIGHTS with session 10's grid; it is scored by adding the hits of the short
and the long pages of each base setting (`search_grid`), the same sums as scoring each setting.

With `--dev-only` (candidate heads, session 12) nothing but the selection sets is scored: the
chosen knobs and their public-dev / half-A numbers are printed and appended as one JSON line to
<data>/blend-dev-candidates.jsonl, the head to <data>/candidate-head-h<UNITS>-s<SEED>.npz; the
test split, half B and the 243 pages are not read.

With `--shipped-head` (session 14) the shipped head's weights are taken as the candidate (no
training) and its knobs are searched as above.

With `--shipped` (session 13) nothing is trained or searched: the shipped topics-head.npz
and its own knobs are reported as below, the "before" figures on a rebuilt corpus. With
`--shipped --dev-only` the shipped head and knobs are scored on the selection sets only (the
candidate line logs the ENGINE_VERSION and no head is saved): how an engine change is chosen
on dev data with the head held fixed.

Otherwise reported once, for the engine alone, the head alone and the chosen blend: the public
test split (all English sources, per source, per category precision/recall, confusion matrix),
half B and all 243 documents of the project's set. Top-1/top-3 here are rankings without the
calibration's abstain (no answer counts as a miss); `evaluate.py` gives the served numbers.

Engine scores come from `categories.evidence` with the cached embedding (the English path of
`engine.classify_text` before calibration, without its language detection), cached per
document id in <data>/engine-evidence-<ENGINE_VERSION>.json. With `--write-topics-head` the
head and the chosen knobs are written to src/beacon/contextual/data/topics-head.npz.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from train import (
    DEFAULT_DATA,
    SEED,
    Features,
    HiddenModel,
    Model,
    confusion_matrix,
    head_arrays,
    own_eval_docs,
    own_half,
    pct,
    per_category,
    select_and_train,
    select_and_train_hidden,
    softmax,
)
from train_features import embeddings, load_jsonl

from beacon.contextual import categories, taxonomy
from beacon.contextual.engine import ENGINE_VERSION

HEAD_PATH = (
    Path(__file__).parent.parent.parent
    / "src"
    / "beacon"
    / "contextual"
    / "data"
    / "topics-head.npz"
)
WEIGHTS = tuple(round(float(w), 2) for w in np.arange(0.0, 1.0001, 0.05))
PRIORS = (0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)
# Lexicon top scores from which the engine's own answer stands (no gate: math.inf); the
# project's article-length pages score 12-50, public short texts mostly under 10. Session 12
# refined the grid (session 10: 10, 15, 20, 30), which the engine's own floor of 4 bounds.
STRONG_EVIDENCE = (5.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0, 25.0, 30.0, 40.0)
# Page lengths (folded tokens) from which `long_weight` replaces `weight` (session 14): the
# project's pages are 175-205 tokens long, public dev's sources mostly under 40 (20 Newsgroups'
# median 102, Reuters' 132).
LONG_TOKENS = (50.0, 100.0, 150.0)
SOURCES_ORDER = (
    "ag_news", "newsgroups20", "sib200", "cooking_se", "wikihow_steps", "insuranceqa", "mind",
    "reuters21578",
)  # fmt: skip
# News-style sources (headline + lede or article, session 13), also reported as one subset.
NEWS_STYLE = ("ag_news", "mind", "reuters21578")


def engine_evidence(
    docs: list[dict[str, Any]], vectors: np.ndarray, cache: Path
) -> dict[str, categories.Evidence]:
    """The engine's English-path evidence (lexicon, re-ranked tier-1, tier-2) per document id,
    computed once with the document's cached embedding and kept in `cache`."""
    path = cache.with_name(f"{cache.stem}-{ENGINE_VERSION}.json")
    known: dict[str, list[dict[str, float]]] = json.loads(path.read_text()) if path.exists() else {}
    started, done = time.monotonic(), 0
    for doc, vector in zip(docs, vectors, strict=True):
        if doc["id"] in known:
            continue
        found = categories.evidence(
            title=doc.get("title", ""), description="", text=doc["text"], embedding=vector
        )
        known[doc["id"]] = [found.lexical, found.tier2, found.ranked]
        done += 1
        if done % 1000 == 0:
            print(f"  engine evidence {done} ({done / (time.monotonic() - started):.0f}/s)")
            path.write_text(json.dumps(known))
    if done:
        path.write_text(json.dumps(known))
    return {doc["id"]: categories.Evidence(*known[doc["id"]]) for doc in docs}


def ranked_codes(found: categories.Evidence, probabilities: bool) -> list[str]:
    """Tier-1 codes the runtime would report (categories.matches), best first."""
    return [m.id.split("-")[0] for m in categories.matches(found, probabilities=probabilities)]


def doc_tokens(docs: list[dict[str, Any]]) -> list[int]:
    """Each document's length as the runtime measures it (`categories.page_tokens`)."""
    return [categories.page_tokens(title=d.get("title", ""), text=d["text"]) for d in docs]


def head_weight(config: dict[str, Any], tokens: int) -> float:
    """The head's weight for a page of `tokens` tokens under a blend setting."""
    long_tokens = config.get("long_tokens", math.inf)
    return float(config["long_weight"] if tokens >= long_tokens else config["weight"])


def predict(
    evidence: list[categories.Evidence],
    head: np.ndarray,
    classes: list[str],
    config: dict[str, Any] | None,
    tokens: list[int] | None = None,
) -> list[list[str]]:
    """Reported tier-1 codes per document: the engine alone (config None), the head alone
    (config {"head": True}) or a blend (`tokens`: each page's length, needed when the setting
    has a length knob)."""
    if tokens is None:
        if config and math.isfinite(config.get("long_tokens", math.inf)):
            raise ValueError("a setting with a length knob needs the pages' tokens")
        tokens = [0] * len(evidence)
    out = []
    for found, probs, length in zip(evidence, head, tokens, strict=True):
        p = dict(zip(classes, probs.tolist(), strict=True))
        if config is None:
            out.append(ranked_codes(found, False) if found.sufficient else [])
        elif config.get("head"):
            only = categories.Evidence(found.lexical, found.tier2, p)
            out.append(ranked_codes(only, True))
        elif max(found.lexical.values(), default=0.0) >= config["strong_evidence"]:
            out.append(ranked_codes(found, False) if found.sufficient else [])
        elif not found.sufficient and not config["answer_without_lexicon"]:
            out.append([])
        else:
            mixed = categories.blend(
                found, p, weight=head_weight(config, length), prior=config["prior"],
                geometric=config["geometric"],
            )  # fmt: skip
            out.append(ranked_codes(mixed, True))
    return out


def scores(gold: list[str], predicted: list[list[str]]) -> tuple[float, float, int, int]:
    """(top-1, top-3, top-1 hits, top-3 hits)."""
    h1 = sum(bool(p) and p[0] == g for g, p in zip(gold, predicted, strict=True))
    h3 = sum(g in p[:3] for g, p in zip(gold, predicted, strict=True))
    return h1 / len(gold), h3 / len(gold), h1, h3


KNOBS = (
    "weight", "prior", "geometric", "answer_without_lexicon", "strong_evidence", "long_tokens",
    "long_weight",
)  # fmt: skip


def by_source(
    docs: list[dict[str, Any]], gold: list[str], predicted: list[list[str]]
) -> dict[str, tuple[float, float, int]]:
    """(top-1, top-3, n) per public source present, for the news-style sources together
    ("news-style") and for the six sources of sessions 10-12 together ("session-10 sources",
    comparable with the figures of those sections)."""
    groups = {"news-style": NEWS_STYLE, "session-10 sources": SOURCES_ORDER[:6]}
    out = {}
    for source in (*SOURCES_ORDER, *groups):
        wanted = groups.get(source, (source,))
        rows = [i for i, d in enumerate(docs) if d["source"] in wanted]
        if rows:
            top1, top3, _, _ = scores([gold[i] for i in rows], [predicted[i] for i in rows])
            out[source] = (top1, top3, len(rows))
    return out


def base_configs() -> list[dict[str, Any]]:
    """Session 10's grid, head weight 0 included, weight-major (one length for every page):
    the head's weight, the engine's prior, linear or geometric mixing, whether pages without
    enough lexicon evidence get the blend's answer, and the lexicon evidence from which the
    engine's own answer stands."""
    return [
        {"weight": w, "prior": k, "geometric": g, "answer_without_lexicon": a, "strong_evidence": t}
        for w, k, g, a, t in itertools.product(
            WEIGHTS, PRIORS, (False, True), (False, True), (math.inf, *STRONG_EVIDENCE)
        )
    ]  # fmt: skip


def configs() -> Iterator[dict[str, Any]]:
    """The knob grid searched on dev: session 10's (head weight > 0) crossed with the length
    knob (off, where `long_weight` is `weight`, or `long_tokens` with any `long_weight`)."""
    for base in base_configs():
        if base["weight"] == 0:
            continue
        yield base | {"long_tokens": math.inf, "long_weight": base["weight"]}
        for t, lw in itertools.product(LONG_TOKENS, WEIGHTS):
            yield base | {"long_tokens": t, "long_weight": lw}


@dataclass
class Search:
    """Every setting of `configs()` as flat columns: its base setting's index in
    `base_configs()` without the weight (`rest`), `weight`, `long_tokens`, `long_weight`, and
    per selection set its top-1 / top-3 hits (`hits[name] = (hits1, hits3)`)."""

    bases: list[dict[str, Any]]
    rest: np.ndarray
    weight: np.ndarray
    long_tokens: np.ndarray
    long_weight: np.ndarray
    hits: dict[str, tuple[np.ndarray, np.ndarray]]
    sizes: dict[str, int]

    def __len__(self) -> int:
        return len(self.rest)

    def row(self, i: int) -> dict[str, Any]:
        """Setting `i` as a knob dict with its hits and rates."""
        out = self.bases[int(self.rest[i])] | {
            "weight": float(self.weight[i]),
            "long_tokens": float(self.long_tokens[i]),
            "long_weight": float(self.long_weight[i]),
        }
        for name, (h1, h3) in self.hits.items():
            n = self.sizes[name]
            out |= {f"{name}_hits1": int(h1[i]), f"{name}_hits3": int(h3[i]),
                    f"{name}_top1": int(h1[i]) / n, f"{name}_top3": int(h3[i]) / n}  # fmt: skip
        return out

    def find(self, knobs: dict[str, Any]) -> int:
        """The index of the setting with these knobs."""
        for i in np.flatnonzero(
            (self.weight == knobs["weight"]) & (self.long_weight == knobs["long_weight"])
            & (self.long_tokens == knobs["long_tokens"])
        ):  # fmt: skip
            if all(self.row(int(i))[k] == knobs[k] for k in KNOBS):
                return int(i)
        raise KeyError(f"{knobs} is not in the grid")

    def best(self, mask: np.ndarray) -> int:
        """Among the settings of `mask`, the index of the one the selection rule ranks first:
        public-dev top-1, half-A top-1, the smaller weight, the smaller long-page weight, the length knob
        off, then a larger `long_tokens`."""
        off = ~np.isfinite(self.long_tokens)
        keys = (
            np.where(off, 0.0, self.long_tokens),  # last key: larger long_tokens
            off.astype(float),
            -np.where(off, self.weight, self.long_weight),
            -self.weight,
            self.hits["A"][0].astype(float),
            self.hits["dev"][0].astype(float),
        )
        order = np.lexsort(tuple(k[mask] for k in keys))
        return int(np.flatnonzero(mask)[order[-1]])


def search_grid(
    sets: dict[str, tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray, np.ndarray]],
    tokens: dict[str, np.ndarray],
) -> Search:
    """Every setting of `configs()` with its hits on each set ("dev", "A"): each base setting
    is scored per document once (`grid_hit_vectors`); a length setting's hits are those of
    its short pages under `weight` plus those of its long pages under `long_weight`."""
    bases = base_configs()
    n_w = len(WEIGHTS)
    n_rest = len(bases) // n_w
    per_doc: dict[str, list[np.ndarray]] = {}
    for name, (arrays, head, gold) in sets.items():
        vectors = [grid_hit_vectors(arrays, head, gold, config) for config in bases]
        per_doc[name] = [np.stack([v[j] for v in vectors]).reshape(n_w, n_rest, -1) for j in (0, 1)]
    weights = np.array(WEIGHTS)
    columns: dict[str, list[np.ndarray]] = {"rest": [], "w": [], "t": [], "lw": []}
    hits: dict[str, list[list[np.ndarray]]] = {name: [[], []] for name in sets}
    for t in (math.inf, *LONG_TOKENS):
        # (weight index, long-weight index) pairs: one weight when the knob is off
        pairs = [
            (wi, li if math.isfinite(t) else wi)
            for wi in range(1, n_w)
            for li in (range(n_w) if math.isfinite(t) else (wi,))
        ]
        wi, li = (np.array(x) for x in zip(*pairs, strict=True))
        columns["rest"].append(np.tile(np.arange(n_rest), len(pairs)))
        columns["w"].append(np.repeat(weights[wi], n_rest))
        columns["lw"].append(np.repeat(weights[li], n_rest))
        columns["t"].append(np.full(len(pairs) * n_rest, t))
        for name in sets:
            long = tokens[name] >= t
            for j in (0, 1):
                short_hits = per_doc[name][j][:, :, ~long].sum(axis=2)
                long_hits = per_doc[name][j][:, :, long].sum(axis=2)
                hits[name][j].append((short_hits[wi] + long_hits[li]).reshape(-1))
    return Search(
        bases=bases,
        rest=np.concatenate(columns["rest"]),
        weight=np.concatenate(columns["w"]),
        long_tokens=np.concatenate(columns["t"]),
        long_weight=np.concatenate(columns["lw"]),
        hits={name: (np.concatenate(h[0]), np.concatenate(h[1])) for name, h in hits.items()},
        sizes={name: len(sets[name][2]) for name in sets},
    )


def matrices(
    evidence: list[categories.Evidence], classes: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(re-ranked engine scores n×k, top lexicon score, enough-evidence flag) per document."""
    index = {c: i for i, c in enumerate(classes)}
    scores = np.zeros((len(evidence), len(classes)))
    for row, found in enumerate(evidence):
        for code, value in found.ranked.items():
            scores[row, index[code]] = value
    top = np.array([max(f.lexical.values(), default=0.0) for f in evidence])
    return scores, top, np.array([f.sufficient for f in evidence])


def grid_hits(
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray],
    head: np.ndarray,
    gold: np.ndarray,
    config: dict[str, Any],
) -> tuple[int, int]:
    """(top-1 hits, top-3 hits) of a blend setting of one weight for every page, vectorised:
    the same arithmetic as `categories.blend` and `categories.matches` (checked against them
    for the chosen one)."""
    hit1, hit3 = grid_hit_vectors(arrays, head, gold, config)
    return int(hit1.sum()), int(hit3.sum())


def grid_hit_vectors(
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray],
    head: np.ndarray,
    gold: np.ndarray,
    config: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """Per document, whether a setting of one head weight has it right first / in the top 3."""
    scores, top, sufficient = arrays
    k = scores.shape[1]
    # Strong evidence: the engine alone (weight and prior 0 leave its ranking and ratios).
    strong = (top >= config["strong_evidence"])[:, None]
    weight = np.where(strong, 0.0, config["weight"])
    prior = np.where(strong, 0.0, config["prior"])
    total = scores.sum(axis=1, keepdims=True) + prior
    safe = np.where(total > 0, total, 1.0)
    engine = (scores + prior / k) / safe
    if config["geometric"]:
        with np.errstate(divide="ignore"):
            mixed = np.where(engine > 0, engine ** (1 - weight) * head**weight, 0.0)
    else:
        mixed = (1 - weight) * engine + weight * head
    mixed = np.where(total > 0, mixed, head)
    mixed = mixed / np.where(mixed.sum(axis=1, keepdims=True) > 0, mixed.sum(1, keepdims=True), 1)
    answered = sufficient | (config["answer_without_lexicon"] & ~strong[:, 0])
    order = np.argsort(-mixed, axis=1, kind="stable")[:, :3]
    ranked = np.take_along_axis(mixed, order, axis=1)
    kept = (ranked > 0) & (ranked >= categories.SECONDARY_RATIO * ranked[:, :1])
    hit1 = answered & (order[:, 0] == gold) & kept[:, 0]
    hit3 = answered & ((order == gold[:, None]) & kept).any(axis=1)
    return hit1, hit3


def main() -> int:
    """Train the head, select the blend on dev, report on test, optionally write the head."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--max-train", type=int, default=0,
        help="train on a seeded random subset of this many English train documents (0: all)",
    )  # fmt: skip
    parser.add_argument("--hidden", type=int, default=0, help="ReLU units before the softmax")
    parser.add_argument("--seed", type=int, default=SEED, help="hidden head's seed")
    parser.add_argument(
        "--dev-only", action="store_true",
        help="score the selection sets only (no test, half B or 243 pages); log the candidate",
    )  # fmt: skip
    parser.add_argument(
        "--reuse-candidate", action="store_true",
        help="take the head a --dev-only run of the same --hidden/--seed saved instead of "
        "training it again (the same seeded training; saves its minutes)",
    )  # fmt: skip
    parser.add_argument(
        "--shipped", action="store_true",
        help="no training and no knob search: report the shipped topics-head.npz with its own "
        "knobs (the before figures on a new corpus)",
    )  # fmt: skip
    parser.add_argument(
        "--shipped-head", action="store_true",
        help="no training: the shipped topics-head.npz's weights, its knobs searched on dev",
    )  # fmt: skip
    parser.add_argument("--write-topics-head", action="store_true")
    args = parser.parse_args()
    if args.shipped and (args.reuse_candidate or args.write_topics_head or args.shipped_head):
        parser.error("--shipped reports the shipped head only")
    if args.shipped_head and (args.reuse_candidate or args.hidden):
        parser.error("--shipped-head takes the shipped head's weights")
    data: Path = args.data
    if args.dev_only and args.write_topics_head:
        parser.error("--write-topics-head needs the full report, not --dev-only")

    docs = [d for d in load_jsonl(data / "topics.jsonl") if d["language"] == "en"]
    train_docs = [d for d in docs if d["split"] == "train"]
    if args.max_train:
        order = np.random.default_rng(16).permutation(len(train_docs))[: args.max_train]
        keep = {train_docs[i]["id"] for i in order}
        docs = [d for d in docs if d["split"] != "train" or d["id"] in keep]
    classes = list(taxonomy.topic_tier1_codes())
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[d["tier1"]] for d in docs])
    splits = np.array([d["split"] for d in docs])
    print(f"{len(docs)} English documents: {dict(Counter(splits.tolist()))}", flush=True)
    vectors = embeddings(docs, data / "embeddings-topics.npz").astype(np.float32)
    model: Model | HiddenModel
    shipped_knobs: dict[str, Any] | None = None
    if args.shipped:
        model, shipped_knobs = load_shipped(classes)
        selection = {"l2": None, "epochs": None, "shipped": True}
    elif args.shipped_head:
        model, _ = load_shipped(classes)
        selection = {"l2": None, "epochs": None, "shipped_head": True}
    elif args.reuse_candidate:
        model, selection = load_candidate(data, args.hidden, args.seed, classes)
    elif args.hidden:
        model, selection = select_and_train_hidden(
            vectors, y, splits, classes, args.hidden, seed=args.seed
        )
    else:
        model, selection = select_and_train(Features(vectors, None), y, splits, classes)
    print(f"head: {selection['l2']=} {selection['epochs']=} T={model.temperature:.2f}", flush=True)

    own = own_eval_docs()
    own_vectors = embeddings(own, data / "embeddings-own-eval.npz").astype(np.float32)
    own_gold = [d["tier1"] for d in own]
    half_a = [i for i, d in enumerate(own) if own_half(d["id"]) == "A"]
    half_b = [i for i, d in enumerate(own) if own_half(d["id"]) == "B"]

    def head_probs(x: np.ndarray) -> np.ndarray:
        return softmax(model.logits(Features(x, None)) / model.temperature)

    public = ("dev",) if args.dev_only else ("dev", "test")
    sets: dict[str, dict[str, Any]] = {}
    for name in public:
        rows = np.flatnonzero(splits == name)
        subset = [docs[i] for i in rows]
        sets[name] = {
            "docs": subset,
            "gold": [d["tier1"] for d in subset],
            "evidence": list(
                engine_evidence(subset, vectors[rows], data / "engine-evidence").values()
            ),
            "head": head_probs(vectors[rows]),
            "tokens": doc_tokens(subset),
        }
    if args.dev_only:
        own, own_vectors = [own[i] for i in half_a], own_vectors[half_a]
        own_gold = [d["tier1"] for d in own]
        own_sets = [("A", list(range(len(own))))]
    else:
        own_sets = [("A", half_a), ("B", half_b), ("all243", list(range(len(own))))]
    own_evidence = list(engine_evidence(own, own_vectors, data / "engine-evidence").values())
    own_head = head_probs(own_vectors)
    own_tokens = doc_tokens(own)
    for name, own_rows in own_sets:
        sets[name] = {
            "docs": [own[i] for i in own_rows],
            "gold": [own_gold[i] for i in own_rows],
            "evidence": [own_evidence[i] for i in own_rows],
            "head": own_head[own_rows],
            "tokens": [own_tokens[i] for i in own_rows],
        }

    def run(name: str, config: dict[str, Any] | None) -> list[list[str]]:
        s = sets[name]
        return predict(s["evidence"], s["head"], classes, config, s["tokens"])

    # --- selection on dev: public dev split + half A ---
    engine_a = scores(sets["A"]["gold"], run("A", None))
    engine_dev = scores(sets["dev"]["gold"], run("dev", None))
    print(f"engine: dev top-1 {engine_dev[0]:.3f}, half A top-1 {engine_a[0]:.3f} "
          f"top-3 {engine_a[1]:.3f}", flush=True)  # fmt: skip
    index = {c: i for i, c in enumerate(classes)}
    grids = {
        name: (
            matrices(sets[name]["evidence"], classes),
            sets[name]["head"],
            np.array([index[g] for g in sets[name]["gold"]]),
        )
        for name in ("dev", "A")
    }
    started = time.monotonic()
    search = search_grid(grids, {name: np.array(sets[name]["tokens"]) for name in grids})
    print(f"searched {len(search)} settings in {time.monotonic() - started:.0f} s", flush=True)
    a1, a3 = search.hits["A"]
    eligible = (a1 >= engine_a[2] - 1) & (a3 >= engine_a[3] - 1)
    best = search.row(search.best(eligible))
    if shipped_knobs is not None:  # the shipped knobs, not the grid's choice
        best = search.row(search.find(shipped_knobs))
    chosen = {k: best[k] for k in KNOBS}
    print(f"chosen on dev: {chosen} dev top-1 {best['dev_top1']:.3f}, half A {best['A_top1']:.3f}")
    for name, key in (("dev", "dev_top1"), ("A", "A_top1")):
        through_runtime = scores(sets[name]["gold"], run(name, chosen))[0]
        if abs(through_runtime - best[key]) > 1e-9:
            raise SystemExit(f"{name}: grid {best[key]} != runtime path {through_runtime}")
    best_unconstrained = search.row(int(np.argmax(search.hits["dev"][0])))
    best_one_weight = search.row(search.best(eligible & ~np.isfinite(search.long_tokens)))
    head_dev = scores(sets["dev"]["gold"], run("dev", {"head": True}))
    head_a = scores(sets["A"]["gold"], run("A", {"head": True}))
    if args.dev_only:
        candidate = {
            "engine_version": ENGINE_VERSION, "shipped": args.shipped,
            "hidden": args.hidden, "seed": args.seed, "max_train": args.max_train,
            "l2": selection["l2"], "epochs": selection["epochs"],
            "temperature": model.temperature, "chosen": chosen,
            "head_dev_top1": head_dev[0], "head_dev_top3": head_dev[1],
            "head_A_top1": head_a[0], "head_A_top3": head_a[1],
            "blend_dev_top1": best["dev_top1"], "blend_dev_top3": best["dev_top3"],
            "blend_A_top1": best["A_top1"], "blend_A_top3": best["A_top3"],
            "best_dev_top1_ignoring_half_A": best_unconstrained["dev_top1"],
            "best_one_weight": {k: best_one_weight[k] for k in (*KNOBS, "dev_top1", "A_top1")},
            "shipped_head": args.shipped_head,
        }  # fmt: skip
        if not args.shipped and not args.shipped_head:
            np.savez_compressed(
                data / f"candidate-head-h{args.hidden}-s{args.seed}.npz", **head_arrays(model)
            )
        with (data / "blend-dev-candidates.jsonl").open("a") as log:
            log.write(json.dumps(candidate) + "\n")
        print(json.dumps(candidate))
        return 0

    # --- report once: engine, head, blend ---
    systems: dict[str, dict[str, Any] | None] = {
        "engine": None, "head": {"head": True}, "blend": chosen,
    }  # fmt: skip
    report: dict[str, Any] = {
        "hidden": args.hidden,
        "seed": args.seed,
        "selection": selection | {"temperature": model.temperature},
        "chosen": chosen,
        "train_documents": int((splits == "train").sum()),
        "dev_documents": int((splits == "dev").sum()),
        "engine_dev": engine_dev[:2],
        "engine_A": engine_a[:2],
        "best_on_dev": best,
        "best_on_dev_ignoring_half_A": best_unconstrained,
        "best_on_dev_one_weight": best_one_weight,
        "search_size": len(search),
        "results": {},
    }
    for system, system_config in systems.items():
        out: dict[str, Any] = {}
        for name in ("dev", "A", "test", "B", "all243"):
            predicted = run(name, system_config)
            gold = sets[name]["gold"]
            top1, top3, _, _ = scores(gold, predicted)
            out[name] = {"n": len(gold), "top1": top1, "top3": top3,
                         "none": float(np.mean([not p for p in predicted]))}  # fmt: skip
            if name == "test":
                firsts = [p[0] if p else "none" for p in predicted]
                out["test_by_source"] = by_source(sets[name]["docs"], gold, predicted)
                out["test_per_category"] = per_category(gold, firsts, classes)
                out["test_confusion"] = confusion_matrix(gold, firsts, [*classes, "none"])
        report["results"][system] = out
    (data / "report-blend.json").write_text(json.dumps(report, indent=1))
    (data / "report-blend.md").write_text(markdown(report, classes))
    print(markdown(report, classes))

    if args.write_topics_head:
        write_head(model, chosen)
        print(f"wrote {HEAD_PATH}")
    return 0


def load_shipped(classes: list[str]) -> tuple[Model | HiddenModel, dict[str, Any]]:
    """The shipped head (src/beacon/contextual/data/topics-head.npz) and its blend knobs."""
    with np.load(HEAD_PATH) as saved:
        arrays = {key: saved[key] for key in saved.files}
    if arrays["classes"].tolist() != classes:
        raise SystemExit(f"shipped classes {arrays['classes'].tolist()} != {classes}")
    model: Model | HiddenModel
    if "hidden_weights" in arrays:
        model = HiddenModel(classes, arrays["hidden_weights"], arrays["hidden_bias"],
                            arrays["weights"], arrays["bias"])  # fmt: skip
    else:
        model = Model(classes, arrays["weights"], None, arrays["bias"])
    model.temperature = float(arrays["temperature"])
    weight = round(float(arrays["blend_weight"]), 2)
    knobs = {
        "weight": weight,
        "prior": float(arrays["blend_prior"]),
        "geometric": bool(arrays["blend_geometric"]),
        "answer_without_lexicon": bool(arrays["answer_without_lexicon"]),
        "strong_evidence": float(arrays["strong_evidence"]),
        "long_tokens": float(arrays.get("long_tokens", math.inf)),
        "long_weight": round(float(arrays.get("long_weight", weight)), 2),
    }
    return model, knobs


def load_candidate(
    data: Path, hidden: int, seed: int, classes: list[str]
) -> tuple[Model | HiddenModel, dict[str, Any]]:
    """The head a `--dev-only` run saved for this width and seed, with the L2 and epochs its
    dev search chose (from its line in blend-dev-candidates.jsonl)."""
    lines = load_jsonl(data / "blend-dev-candidates.jsonl")
    # `--shipped --dev-only` lines carry the default width and seed but no L2 or epochs (and
    # before this filter a reusing run could copy them into its own line).
    logged = [
        r
        for r in lines
        if (r["hidden"], r["seed"], r["max_train"]) == (hidden, seed, 0) and r["l2"] is not None
    ]
    if not logged:
        raise SystemExit(f"no --dev-only run of hidden {hidden} seed {seed} is logged")
    with np.load(data / f"candidate-head-h{hidden}-s{seed}.npz") as saved:
        arrays = {key: saved[key] for key in saved.files}
    if arrays["classes"].tolist() != classes:
        raise SystemExit(f"candidate classes {arrays['classes'].tolist()} != {classes}")
    model: Model | HiddenModel
    if hidden:
        model = HiddenModel(classes, arrays["hidden_weights"], arrays["hidden_bias"],
                            arrays["weights"], arrays["bias"])  # fmt: skip
    else:
        model = Model(classes, arrays["weights"], None, arrays["bias"])
    model.temperature = float(arrays["temperature"])
    selection = {"l2": logged[-1]["l2"], "epochs": logged[-1]["epochs"], "reused": True}
    return model, selection


def write_head(model: Model | HiddenModel, chosen: dict[str, Any]) -> None:
    """The head (with its ReLU layer if it has one) and the blend knobs chosen on dev, for
    `categories.py` (~35 KB without a hidden layer)."""
    np.savez_compressed(
        HEAD_PATH,
        **head_arrays(model),
        features=np.array(["emb"]),
        blend_weight=np.array(chosen["weight"]),
        blend_prior=np.array(chosen["prior"]),
        blend_geometric=np.array(chosen["geometric"]),
        answer_without_lexicon=np.array(chosen["answer_without_lexicon"]),
        strong_evidence=np.array(chosen["strong_evidence"]),
        long_tokens=np.array(chosen.get("long_tokens", math.inf)),
        long_weight=np.array(chosen.get("long_weight", chosen["weight"])),
    )


def markdown(report: dict[str, Any], classes: list[str]) -> str:
    """The blend report as Markdown tables (pasted into docs/benchmarks.md)."""
    res = report["results"]
    sel = report["selection"]
    shape = (
        f", one ReLU layer of {report['hidden']} units (seed {report['seed']})"
        if report.get("hidden")
        else ""
    )
    trained = (
        f"L2 {sel['l2']:g}, {sel['epochs']} epochs, temperature {sel['temperature']:.2f}. "
        f"Blend chosen on dev: {report['chosen']}."
        if not sel.get("shipped")
        else f"not trained: the shipped topics-head.npz and its knobs {report['chosen']} "
        f"(temperature {sel['temperature']:.2f})."
    )
    lines = [
        f"Head: MiniLM page embedding only{shape}, {report['train_documents']} English train "
        f"documents, {trained}",
        "",
        "| set | n | engine top-1 | engine top-3 | head top-1 | head top-3 | blend top-1 "
        "| blend top-3 | engine no answer | blend no answer |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    labels = {"dev": "public dev (selection)", "A": "half A (selection)", "test": "public test",
              "B": "half B", "all243": "all 243"}  # fmt: skip
    for name, label in labels.items():
        e, h, b = res["engine"][name], res["head"][name], res["blend"][name]
        lines.append(
            f"| {label} | {e['n']} | {pct(e['top1'])} | {pct(e['top3'])} | {pct(h['top1'])} "
            f"| {pct(h['top3'])} | {pct(b['top1'])} | {pct(b['top3'])} | {pct(e['none'])} "
            f"| {pct(b['none'])} |"
        )
    lines += ["", "| public test source | n | engine top-1 | head top-1 | blend top-1 | "
              "blend top-3 |", "|---|---|---|---|---|---|"]  # fmt: skip
    for source in res["blend"]["test_by_source"]:
        e, h, b = (res[s]["test_by_source"][source] for s in ("engine", "head", "blend"))
        lines.append(
            f"| {source} | {b[2]} | {pct(e[0])} | {pct(h[0])} | {pct(b[0])} | {pct(b[1])} |"
        )
    lines += ["", "| tier-1 | n | engine P | engine R | head P | head R | blend P | blend R |",
              "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for code in classes:
        e, h, b = (res[s]["test_per_category"][code] for s in ("engine", "head", "blend"))
        lines.append(
            f"| {code} | {b['support']} | {pct(e['precision'])} | {pct(e['recall'])} | "
            f"{pct(h['precision'])} | {pct(h['recall'])} | {pct(b['precision'])} | "
            f"{pct(b['recall'])} |"
        )
    labels_cm = [*classes, "none"]
    lines += ["", "Blend confusion matrix on the public test split (rows gold, columns "
              "predicted; gold rows without documents left out):", "",
              "| gold \\ predicted | " + " | ".join(c.replace("IAB", "") for c in labels_cm)
              + " |", "|---" * (len(labels_cm) + 1) + "|"]  # fmt: skip
    for code, counts in zip(labels_cm, res["blend"]["test_confusion"], strict=True):
        if sum(counts):
            lines.append(f"| {code} | " + " | ".join(str(c) for c in counts) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
