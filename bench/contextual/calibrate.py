"""Fit the engine's confidence calibration and abstain threshold (issue 16); write the table.

Usage:
    nice -n 10 .venv/bin/python bench/contextual/calibrate.py [--data build/contextual]
        [--write] [--json]

Data: the public corpora `train_data.py` builds (`<data>/topics.jsonl`, each document with a
`split`) and the project's labelled set (`bench/contextual/eval/*.jsonl`). The maps are fitted
only on documents no trained head saw: the English topic head (`data/topics-head.npz`) is
trained on the public English `train` split, and a map fitted on its in-sample answers is
over-confident on new text (docs/benchmarks.md, session 14), so English fits on `dev`, which
only chose the heads' settings:

* calibration split: public English dev (every source, all of it: its mix of sources is the
  test split's), SIB-200 dev in es/fr/de/it/pt, and the half of the project's set whose id
  hashes even (CRC32);
* evaluation split (disjoint): public test (SIB-200 test and MasakhaNEWS test.tsv for the other
  languages), and the other half of the project's set. Non-English documents the multilingual
  head was trained on are not used (`multilingual_role`).

Every document goes through `engine.classify_text(..., calibrated=False)` (the raw heuristic
top-1 confidence; results cached in `<data>/calibration-raw-<fingerprint>.json`). Documents
labelled IAB12 (AG News "World") are left out: the engine treats News as a format and labels a
news story by its subject (IAB11 for a treaty, IAB17 for a match), which the source has no
label for; the project's set has no IAB12 label for the same reason.

Per language group (English and undetermined; the other supported languages together) an
isotonic regression (pool-adjacent-violators, blocks merged to at least MIN_BLOCK documents)
maps the raw top-1 confidence to P(top-1 tier-1 is right). The abstain threshold is the lowest
calibrated confidence, on a 0.05 grid, from which on the calibration split's answers in every
0.1-wide window are right at least half the time (MARGINAL_ACCURACY): below it an answer is
more likely wrong than right, so the list is left empty.

Reports, on the evaluation split: ECE (15 bins) before and after, a reliability table,
accuracy and coverage per threshold, per source. `--write` writes
`src/beacon/contextual/data/calibration.json` (the same input gives the same bytes).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import sys
import time
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from train import own_half, pct
from train_features import load_jsonl

from beacon.contextual import calibration
from beacon.contextual.engine import classify_text

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_DATA = ROOT / "build" / "contextual"
EVAL_DIR = Path(__file__).parent / "eval"
TABLE_PATH = ROOT / "src" / "beacon" / "contextual" / "data" / "calibration.json"
# What the raw scores depend on: a change to any of these invalidates the cache.
ENGINE_FILES = (
    "categories.py",
    "semantic.py",
    "language.py",
    "taxonomy.py",
    "data/lexicon.txt",
    "multilingual.py",
    "data/multilingual-head.npz",
    "data/topics-head.npz",
    "heads.py",
    "engine.py",
)
EXCLUDED_GOLD = frozenset({"IAB12"})
ENGLISH_GROUP = ("en", "")  # "" is an undetermined language: the English lexicon reads it
OTHER_LANGUAGES = ("de", "es", "fr", "it", "pt")
# The public English splits fitted on: not `train`, which the topic head is fitted on.
CALIBRATION_SPLITS = frozenset({"dev"})
# The share of those documents fitted on, the same for every source of a language so that the
# calibration split has the test split's mix of sources (P(right) at a given raw score differs
# by source); a CRC32-ordered sample, the same on every run. Sessions 8-13 fitted on 0.3 of
# train + dev; dev alone is used whole.
CALIBRATION_SHARE: dict[str, float] = {}
MIN_BLOCK = 40
ECE_BINS = 15
# The abstain threshold: where the marginal answer stops being right more often than wrong.
MARGINAL_ACCURACY = 0.5
WINDOW = 0.1
THRESHOLD_GRID = tuple(round(0.05 * i, 2) for i in range(20))
REPORT_THRESHOLDS = (0.0, 0.2, 0.3, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9)


# --- data -----------------------------------------------------------------------------------


def own_split(doc_id: str) -> str:
    """The project set's half a document belongs to: blend.py's half A, where the topic blend's
    knobs are chosen, is fitted on; half B, which nothing chose on, is the evaluation half
    (`train.own_half`; until session 14 a CRC32 parity that mixed the two)."""
    return "calibration" if own_half(doc_id) == "A" else "evaluation"


def documents(data: Path) -> list[dict[str, Any]]:
    """Every usable document with `source`, `tier1`, `role` (calibration or evaluation)."""
    docs = []
    pools: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for doc in load_jsonl(data / "topics.jsonl"):
        if doc["tier1"] in EXCLUDED_GOLD:
            continue
        if doc["language"] != "en":
            role = multilingual_role(doc)
            if role is not None:
                docs.append({**doc, "role": role})
        elif doc["split"] == "test":
            docs.append({**doc, "role": "evaluation"})
        elif doc["split"] in CALIBRATION_SPLITS:
            pools[(doc["source"], doc["language"])].append({**doc, "role": "calibration"})
    for (_, language), pool in pools.items():
        pool.sort(key=lambda d: zlib.crc32(d["id"].encode()))
        docs.extend(pool[: math.ceil(CALIBRATION_SHARE.get(language, 1.0) * len(pool))])
    for path in sorted(EVAL_DIR.glob("*.jsonl")):
        for doc in load_jsonl(path):
            docs.append(
                {**doc, "source": "beacon_eval", "language": "en", "role": own_split(doc["id"])}
            )
    return docs


def multilingual_role(doc: dict[str, Any]) -> str | None:
    """Where a non-English document goes. The multilingual head (multilingual.py) was trained
    on SIB-200 train and MasakhaNEWS's original dev.tsv, with SIB-200 dev choosing its
    settings and temperature: calibrate on SIB-200 dev, evaluate on SIB-200 test and
    MasakhaNEWS's test.tsv, and leave its training documents out."""
    if doc["source"] == "sib200":
        return {"dev": "calibration", "test": "evaluation"}.get(doc["split"])
    if doc["source"] == "masakhanews" and "-test-" in doc["id"]:
        return "evaluation"
    return None


def fingerprint() -> str:
    """A short hash of the engine files the raw scores depend on."""
    digest = hashlib.sha256()
    package = ROOT / "src" / "beacon" / "contextual"
    for name in ENGINE_FILES:
        digest.update((package / name).read_bytes())
    return digest.hexdigest()[:12]


def raw_results(docs: Sequence[dict[str, Any]], data: Path) -> dict[str, dict[str, Any]]:
    """Per document id: the engine's raw categories [[tier-1, confidence], ...] and language."""
    path = data / f"calibration-raw-{fingerprint()}.json"
    known: dict[str, dict[str, Any]] = json.loads(path.read_text()) if path.exists() else {}
    todo = [d for d in docs if d["id"] not in known]
    started = time.monotonic()
    for i, doc in enumerate(todo, 1):
        result = classify_text(text=doc["text"], title=doc.get("title", ""), calibrated=False)
        known[doc["id"]] = {
            "categories": [[c.id.split("-")[0], c.confidence] for c in result.iab_categories],
            "language": result.language or "",
        }
        if i % 1000 == 0:
            rate = i / (time.monotonic() - started)
            print(f"  engine: {i}/{len(todo)} documents ({rate:.0f}/s)", file=sys.stderr)
            path.write_text(json.dumps(known))
    if todo:
        path.write_text(json.dumps(known))
    return known


# --- fitting --------------------------------------------------------------------------------


def isotonic(x: np.ndarray, y: np.ndarray, min_block: int = MIN_BLOCK) -> list[list[float]]:
    """Knots [mean raw, mean correct] of the pool-adjacent-violators fit of y on x, blocks
    merged until each holds at least ``min_block`` points (merging neighbours keeps the fit
    non-decreasing: a merged mean lies between the two)."""
    order = np.argsort(x, kind="stable")
    blocks: list[list[float]] = []  # [sum x, sum y, n]
    for xi, yi in zip(x[order], y[order], strict=True):
        blocks.append([float(xi), float(yi), 1.0])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2]:
            _merge_last(blocks)
    merged: list[list[float]] = []
    for block in blocks:
        if merged and merged[-1][2] < min_block:
            merged[-1] = [a + b for a, b in zip(merged[-1], block, strict=True)]
        else:
            merged.append(block)
    if len(merged) > 1 and merged[-1][2] < min_block:
        last = merged.pop()
        merged[-1] = [a + b for a, b in zip(merged[-1], last, strict=True)]
    knots = [[round(sx / n, 4), round(sy / n, 4)] for sx, sy, n in merged]
    # Equal rounded raw values would make two knots at one x: keep the later (higher) one.
    # Anchored at (0, 0): a score of 0 is no evidence. Below the first block the map would be
    # flat otherwise, and secondary categories (scored lower than any top-1) would inherit the
    # weakest top-1's accuracy.
    unique: dict[float, float] = {0.0: 0.0}
    for kx, ky in knots:
        unique[kx] = ky
    return [[kx, ky] for kx, ky in unique.items()]


def _merge_last(blocks: list[list[float]]) -> None:
    last = blocks.pop()
    blocks[-1] = [a + b for a, b in zip(blocks[-1], last, strict=True)]


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: the |confidence − accuracy| gap, weighted over bins."""
    if len(confidence) == 0:
        return 0.0
    total = 0.0
    for lo, hi in itertools.pairwise(np.linspace(0, 1, bins + 1)):
        mask = (confidence > lo) & (confidence <= hi) if lo > 0 else (confidence <= hi)
        if mask.any():
            total += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(total)


# --- evaluation -----------------------------------------------------------------------------


class Rows:
    """The top-1 (and secondary) predictions of one set of documents, raw and calibrated."""

    def __init__(
        self,
        docs: Iterable[dict[str, Any]],
        raw: dict[str, dict[str, Any]],
        table: calibration.Table | None,
    ) -> None:
        self.n = 0
        self.top_raw: list[float] = []
        self.top_cal: list[float] = []
        self.top_hit: list[bool] = []
        self.second_cal: list[float] = []
        self.second_hit: list[bool] = []
        for doc in docs:
            self.n += 1
            result = raw[doc["id"]]
            found = result["categories"]
            if not found:
                continue
            curve = table.curve(result["language"]) if table else None
            for rank, (code, confidence) in enumerate(found):
                hit = code == doc["tier1"]
                cal = curve(confidence) if curve else confidence
                if rank == 0:
                    self.top_raw.append(confidence)
                    self.top_cal.append(cal)
                    self.top_hit.append(hit)
                else:
                    self.second_cal.append(cal)
                    self.second_hit.append(hit)

    def arrays(self, calibrated: bool) -> tuple[np.ndarray, np.ndarray]:
        """(top-1 confidence, top-1 right) as arrays."""
        conf = self.top_cal if calibrated else self.top_raw
        return np.array(conf, dtype=float), np.array(self.top_hit, dtype=float)

    def coverage(self, threshold: float) -> tuple[float, float | None]:
        """(share of all documents answered, top-1 accuracy of those) at ``threshold``."""
        conf, hit = self.arrays(True)
        kept = conf >= threshold
        accuracy = float(hit[kept].mean()) if kept.any() else None
        return float(kept.sum()) / self.n if self.n else 0.0, accuracy

    def summary(self) -> dict[str, Any]:
        """Top-1 accuracy over all documents, answered share, ECE raw and calibrated."""
        raw_conf, hit = self.arrays(False)
        cal_conf, _ = self.arrays(True)
        second_conf = np.array(self.second_cal, dtype=float)
        second_hit = np.array(self.second_hit, dtype=float)
        return {
            "documents": self.n,
            "answered": len(hit),
            "top1": float(hit.sum()) / self.n if self.n else 0.0,
            "ece_raw": ece(raw_conf, hit),
            "ece_calibrated": ece(cal_conf, hit),
            "mean_raw": float(raw_conf.mean()) if len(hit) else None,
            "mean_calibrated": float(cal_conf.mean()) if len(hit) else None,
            "accuracy_answered": float(hit.mean()) if len(hit) else None,
            "secondary": {
                "n": len(second_hit),
                "ece_calibrated": ece(second_conf, second_hit),
                "mean_calibrated": float(second_conf.mean()) if len(second_hit) else None,
                "accuracy": float(second_hit.mean()) if len(second_hit) else None,
            },
        }


def reliability(rows: Rows, calibrated: bool) -> list[dict[str, Any]]:
    """Ten confidence bins: n, mean confidence, accuracy."""
    conf, hit = rows.arrays(calibrated)
    out = []
    for b in range(10):
        lo, hi = b / 10, (b + 1) / 10
        mask = (conf >= lo) & (conf < hi) if b < 9 else (conf >= lo)
        if mask.any():
            out.append(
                {
                    "bin": f"{lo:.1f}-{hi:.1f}",
                    "n": int(mask.sum()),
                    "confidence": float(conf[mask].mean()),
                    "accuracy": float(hit[mask].mean()),
                }
            )
    return out


def group_of(language: str) -> str:
    """The calibration group of a detected language."""
    return "en" if language in ENGLISH_GROUP else "other"


def fit(docs: Sequence[dict[str, Any]], raw: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The table document: one isotonic map per language group, and the abstain threshold."""
    groups: dict[str, dict[str, Any]] = {}
    for name, languages in (("en", ["en"]), ("other", list(OTHER_LANGUAGES))):
        chosen = [
            d
            for d in docs
            if d["role"] == "calibration" and group_of(raw[d["id"]]["language"]) == name
        ]
        rows = Rows(chosen, raw, None)
        x, y = rows.arrays(False)
        groups[name] = {"languages": languages, "documents": len(x), "knots": isotonic(x, y)}
    # English (and undetermined) pages are what the lexicon is for; it serves the rest too.
    groups[calibration.DEFAULT_GROUP] = {**groups.pop("en"), "languages": []}
    document: dict[str, Any] = {
        "about": "bench/contextual/calibrate.py: raw top-1 confidence -> P(tier-1 right), "
        "isotonic per language group; below abstain_below no category is reported",
        "engine_fingerprint": fingerprint(),
        "marginal_accuracy": MARGINAL_ACCURACY,
        "abstain_below": 0.0,
        "groups": groups,
    }
    table = calibration.parse(document)
    conf, hit = Rows([d for d in docs if d["role"] == "calibration"], raw, table).arrays(True)
    document["abstain_below"] = abstain_threshold(conf, hit)
    return document


def abstain_threshold(confidence: np.ndarray, correct: np.ndarray) -> float:
    """The lowest grid value t from which on every window [t', t' + WINDOW) of calibrated
    confidence holds answers that are right at least MARGINAL_ACCURACY of the time: below it,
    the answers the engine would add are more often wrong than right."""
    chosen = THRESHOLD_GRID[-1]
    for t in reversed(THRESHOLD_GRID):
        window = (confidence >= t) & (confidence < t + WINDOW)
        if window.sum() >= MIN_BLOCK and correct[window].mean() < MARGINAL_ACCURACY:
            break
        chosen = t
    return chosen


def report(
    docs: Sequence[dict[str, Any]], raw: dict[str, dict[str, Any]], document: dict[str, Any]
) -> dict[str, Any]:
    """Measurements of the fitted table on the evaluation (and calibration) split."""
    table = calibration.parse(document)
    evaluation = [d for d in docs if d["role"] == "evaluation"]
    calib = [d for d in docs if d["role"] == "calibration"]
    all_rows = Rows(evaluation, raw, table)
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for doc in evaluation:
        by_source[f"{doc['source']}/{doc['language']}"].append(doc)
        by_group[group_of(raw[doc["id"]]["language"])].append(doc)
    calib_rows = Rows(calib, raw, table)
    return {
        "abstain_below": document["abstain_below"],
        "calibration_documents": calib_rows.n,
        "evaluation": all_rows.summary(),
        "calibration": calib_rows.summary(),
        "by_group": {k: Rows(v, raw, table).summary() for k, v in sorted(by_group.items())},
        "by_source": {k: Rows(v, raw, table).summary() for k, v in sorted(by_source.items())},
        "reliability_raw": reliability(all_rows, False),
        "reliability_calibrated": reliability(all_rows, True),
        "coverage": {
            group: [
                {
                    "threshold": t,
                    **dict(zip(("coverage", "accuracy"), rows.coverage(t), strict=True)),
                }
                for t in REPORT_THRESHOLDS
            ]
            for group, rows in (
                ("all", all_rows),
                ("en", Rows(by_group["en"], raw, table)),
                ("beacon_eval", Rows(by_source["beacon_eval/en"], raw, table)),
            )
        },
    }


def markdown(result: dict[str, Any]) -> str:
    """The report as the tables docs/benchmarks.md carries."""
    ev = result["evaluation"]
    lines = [
        f"Evaluation split: {ev['documents']} documents, {ev['answered']} with a category; "
        f"top-1 {pct(ev['top1'])}. ECE (15 bins, top-1): {ev['ece_raw']:.3f} raw → "
        f"{ev['ece_calibrated']:.3f} calibrated. Abstain below {result['abstain_below']:.2f}.",
        "",
        "| split / source | docs | answered | top-1 | ECE raw | ECE calibrated | mean raw | mean calibrated | accuracy answered |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [("evaluation (all)", ev), ("calibration (all)", result["calibration"])]
    rows += [(f"evaluation, {k}", v) for k, v in result["by_group"].items()]
    rows += [(f"evaluation, {k}", v) for k, v in result["by_source"].items()]
    for name, s in rows:
        lines.append(
            f"| {name} | {s['documents']} | {s['answered']} | {pct(s['top1'])} | "
            f"{s['ece_raw']:.3f} | {s['ece_calibrated']:.3f} | {pct(s['mean_raw'])} | "
            f"{pct(s['mean_calibrated'])} | {pct(s['accuracy_answered'])} |"
        )
    lines += [
        "",
        "| confidence bin | n (raw) | mean raw | accuracy | n (calibrated) | mean calibrated | accuracy |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    raw_bins = {r["bin"]: r for r in result["reliability_raw"]}
    cal_bins = {r["bin"]: r for r in result["reliability_calibrated"]}
    for name in sorted(set(raw_bins) | set(cal_bins)):
        r, c = raw_bins.get(name), cal_bins.get(name)
        left = f"{r['n']} | {r['confidence']:.3f} | {pct(r['accuracy'])}" if r else "0 | - | -"
        right = f"{c['n']} | {c['confidence']:.3f} | {pct(c['accuracy'])}" if c else "0 | - | -"
        lines.append(f"| {name} | {left} | {right} |")
    lines += [
        "",
        "| calibrated confidence ≥ | coverage (all) | top-1 answered (all) | coverage (en) | top-1 answered (en) | coverage (Beacon set) | top-1 answered (Beacon set) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    cov = result["coverage"]
    for i, t in enumerate(REPORT_THRESHOLDS):
        cells = " | ".join(
            f"{pct(cov[g][i]['coverage'])} | {pct(cov[g][i]['accuracy'])}"
            for g in ("all", "en", "beacon_eval")
        )
        lines.append(f"| {t:.2f} | {cells} |")
    return "\n".join(lines)


def main() -> int:
    """Fit, report, and with --write store the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--write", action="store_true", help=f"write {TABLE_PATH.name}")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    docs = documents(args.data)
    raw = raw_results(docs, args.data)
    document = fit(docs, raw)
    result = report(docs, raw, document)
    if args.write:
        TABLE_PATH.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {TABLE_PATH.relative_to(ROOT)}", file=sys.stderr)
    print(json.dumps(result, indent=2) if args.json else markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
