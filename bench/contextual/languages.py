"""The engine on the six supported languages: SIB-200 topic sentences, tier-1 accuracy.

    python bench/contextual/languages.py [--split test] [--sources DIR] [--json OUT]

SIB-200 (dadelani/sib-200, CC BY-SA 4.0; the snapshot `train_data.SOURCES["sib200"]` pins,
under ``--sources`` as train_data.py reads it) gives the same Flores-200 sentences in every
language with one of 7 topic labels; `train_labels.tsv` maps each to an IAB tier-1 code. Each
sentence is classified through `classify_text` (no title), exactly as the classify API does:
language detection included, so a sentence detected as an unsupported language counts as a
miss with its `unsupported_language` note. Reported per language: tier-1 top-1 and top-3,
how often no category was answered, and how often the detected language was right.
``--head`` trains and scores a translation-free head on SIB-200 alone (an experiment; it is
not part of the engine). ``--detection`` adds a table of the language detector alone on single sentences and on
5-sentence texts of the six languages and ten unsupported ones.

The numbers in docs/benchmarks.md come from SIB-200's own ``test`` split; its train and dev
splits are the only ones any tuning may look at.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from train_data import (
    DEFAULT_SOURCES,
    SIB_LANGUAGES,
    SOURCES,
    Reader,
    load_mapping,
    read_sib200,
)

from beacon.contextual import calibration
from beacon.contextual.engine import ENGINE_VERSION, classify_text
from beacon.contextual.language import SUPPORTED, UNSUPPORTED, detect, is_supported, warm_up

LANGUAGE_ORDER = list(SIB_LANGUAGES.values())
# Unsupported languages the detection table adds: neighbours of the supported ones (ca, gl,
# ro, nl), other scripts (ja, ru, ar) and a few more (pl, sv, tr).
DETECTION_EXTRA = {
    "cat_Latn": "ca",
    "glg_Latn": "gl",
    "ron_Latn": "ro",
    "nld_Latn": "nl",
    "pol_Latn": "pl",
    "swe_Latn": "sv",
    "tur_Latn": "tr",
    "rus_Cyrl": "ru",
    "arb_Arab": "ar",
    "jpn_Jpan": "ja",
}


def evaluate(
    docs: list[dict[str, Any]], threshold: float | None = None
) -> dict[str, dict[str, Any]]:
    """Per language: n, top-1 (abstentions at the shipped threshold counted as misses; also
    never abstaining), top-3, empty answers, detected-language hits, confusions. `threshold`
    replaces the shipped abstain threshold (calibration.json's) when given."""
    mapping = load_mapping()
    stats: dict[str, Counter[str]] = defaultdict(Counter)
    confusion: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    if threshold is None:
        threshold = calibration.table().abstain_below
    for doc in docs:
        gold = mapping[("sib200", doc["label"])][0]
        # Never abstaining, then abstaining as the engine does by default (the threshold
        # applies to the best category's calibrated confidence).
        result = classify_text(text=doc["text"], min_confidence=0.0)
        every = [c.id.split("-")[0] for c in result.iab_categories]
        answered = bool(result.iab_categories) and result.iab_categories[0].confidence >= threshold
        tier1s = every if answered else []
        language = doc["language"]
        counts = stats[language]
        counts["n"] += 1
        counts["top1_never_abstaining"] += bool(every) and every[0] == gold
        counts["top1"] += bool(tier1s) and tier1s[0] == gold
        counts["top3"] += gold in tier1s[:3]
        counts["empty"] += not tier1s
        counts["detected"] += result.language == language
        counts["undetermined"] += result.language is None
        counts["unsupported"] += UNSUPPORTED in result.notes
        confusion[language][(gold, tier1s[0] if tier1s else "none")] += 1
    return {
        language: {
            "n": c["n"],
            "top1": c["top1"] / c["n"],
            "top1_never_abstaining": c["top1_never_abstaining"] / c["n"],
            "threshold": threshold,
            "top3": c["top3"] / c["n"],
            "empty": c["empty"] / c["n"],
            "language_detected": c["detected"] / c["n"],
            "language_undetermined": c["undetermined"] / c["n"],
            "unsupported_note": c["unsupported"] / c["n"],
            "top_confusions": [
                [gold, predicted, count]
                for (gold, predicted), count in confusion[language].most_common(40)
                if gold != predicted
            ][:5],
        }
        for language, c in sorted(stats.items(), key=lambda kv: LANGUAGE_ORDER.index(kv[0]))
    }


def detection(reader: Reader, split: str, per_language: int) -> str:
    """Markdown table: `language.detect` on single SIB-200 sentences and on 5-sentence texts
    (no declared language), for the supported languages and DETECTION_EXTRA."""
    codes = {**SIB_LANGUAGES, **DETECTION_EXTRA}
    warm_up()  # the model's load (~0.3 s) is not per-sentence cost
    lines = [
        "| language | sentences: right | undetermined | unsupported note "
        "| 5-sentence texts: right | CPU per sentence |",
        "|---|---|---|---|---|---|",
    ]
    for code, iso in codes.items():
        raw = reader.show(SOURCES["sib200"], f"data/annotated/{code}/{split}.tsv")
        sentences = [r["text"] for r in csv.DictReader(io.StringIO(raw), delimiter="\t")]
        sentences = sentences[:per_language]
        started = time.process_time()
        answers = [detect(text=s) for s in sentences]
        cpu_ms = (time.process_time() - started) * 1000 / len(sentences)
        texts = [" ".join(sentences[i : i + 5]) for i in range(0, len(sentences) - 4, 5)]
        right_texts = sum(detect(text=t) == iso for t in texts) / len(texts)
        noted = sum(not is_supported(a) for a in answers) / len(answers)
        lines.append(
            f"| {iso}{'' if iso in SUPPORTED else ' (unsupported)'} "
            f"| {sum(a == iso for a in answers) / len(answers):.1%} "
            f"| {sum(a is None for a in answers) / len(answers):.1%} | {noted:.1%} "
            f"| {right_texts:.1%} | {cpu_ms:.2f} ms |"
        )
    return "\n".join(lines)


def head_experiment(docs: list[dict[str, Any]], languages: list[str]) -> str:
    """A translation-free head (hashed word uni+bigrams, train.py's softmax regression) trained
    on SIB-200 `train` of `languages`, L2 and epochs chosen on `dev`, top-1 on `test`."""
    import numpy as np
    from train import Features, train
    from train_features import sparse_features

    mapping = load_mapping()
    docs = [d for d in docs if d["language"] in languages]
    classes = sorted({mapping[("sib200", d["label"])][0] for d in docs})
    y = np.array([classes.index(mapping[("sib200", d["label"])][0]) for d in docs])
    features = Features(np.zeros((len(docs), 0), dtype=np.float32), sparse_features(docs))
    split = np.array([d["split"] for d in docs])
    rows = {part: np.where(split == part)[0] for part in ("train", "dev", "test")}
    best = (-1.0, 0.0, 0)
    for l2 in (1e-5, 1e-4, 1e-3):
        _, history = train(features, y, rows["train"], classes, l2=l2, epochs=12,
                           dev=(rows["dev"], y[rows["dev"]]))  # fmt: skip
        if max(history) > best[0]:
            best = (max(history), l2, int(np.argmax(history)) + 1)
    model, _ = train(features, y, rows["train"], classes, l2=best[1], epochs=best[2])
    test = rows["test"]
    predicted = model.logits(features, test).argmax(1)
    language = np.array([docs[i]["language"] for i in test])
    lines = [
        f"head: L2 {best[1]:g}, {best[2]} epochs (dev top-1 {best[0]:.1%}), "
        f"{len(classes)} tier-1 classes",
        "",
        "| language | n | tier-1 top-1 |",
        "|---|---|---|",
    ]
    for code in languages:
        mask = language == code
        hits = (predicted[mask] == y[test][mask]).mean()
        lines.append(f"| {code} | {int(mask.sum())} | {hits:.1%} |")
    return "\n".join(lines)


def render(report: dict[str, dict[str, Any]], split: str) -> str:
    """A markdown table."""
    lines = [
        f"engine `{ENGINE_VERSION}`, SIB-200 `{split}` split, one sentence per document; "
        f"top-1 and top-3 count abstentions (best confidence below "
        f"{next(iter(report.values()))['threshold']:g}) as misses",
        "",
        "| language | n | tier-1 top-1 | top-1 never abstaining | top-3 | no category "
        "| language detected | most frequent confusions (gold → answered) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for language, row in report.items():
        confusions = ", ".join(f"{g}→{p} ({n})" for g, p, n in row["top_confusions"][:3])
        lines.append(
            f"| {language} | {row['n']} | {row['top1']:.1%} "
            f"| {row['top1_never_abstaining']:.1%} | {row['top3']:.1%} "
            f"| {row['empty']:.1%} | {row['language_detected']:.1%} | {confusions} |"
        )
    return "\n".join(lines)


def main() -> int:
    """Evaluate and print the table (and the JSON report with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", default="test", choices=["train", "dev", "test"])
    parser.add_argument("--sources", type=Path, default=DEFAULT_SOURCES)
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--detection", action="store_true", help="also the detection table")
    parser.add_argument(
        "--threshold", type=float, help="abstain threshold (default: the shipped one)"
    )
    parser.add_argument(
        "--head", action="store_true", help="also the translation-free head experiment"
    )
    args = parser.parse_args()
    reader = Reader(args.sources)
    if args.detection:
        print(detection(reader, args.split, per_language=200), end="\n\n")
    every_split = read_sib200(reader)
    if args.head:
        print(head_experiment(every_split, ["es", "fr", "de", "it", "pt"]), end="\n\n")
    docs = [d for d in every_split if d["split"] == args.split]
    started = time.monotonic()
    report = evaluate(docs, args.threshold)
    print(render(report, args.split))
    print(f"\n{len(docs)} sentences in {time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
