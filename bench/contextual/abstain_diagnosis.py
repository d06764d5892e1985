"""Where the multilingual path's abstentions fall, on SIB-200 dev (issue 16, session 14).

    .venv/bin/python bench/contextual/abstain_diagnosis.py [--sources DIR] [--extra]

Each SIB-200 dev sentence of es/fr/de/it/pt goes through the multilingual head
(`multilingual.classify`, what the engine runs for those languages) and the shipped calibration
map of its group. Reported: top-1 per language never abstaining and at the shipped threshold;
how many right and wrong answers the threshold withholds, by gold category; the largest
confusions; the share right per 0.1-wide window of calibrated confidence.

``--extra`` adds the dev sentences of the 20 other languages whose SIB-200 *train* split the
head learnt from (`train_multilingual.ROMANCE + USE_OTHERS`; the same 99 Flores sentences,
translated) and fits the group's map and the abstain rule (`calibrate.isotonic`,
`calibrate.abstain_threshold`) on es–pt dev alone and on all 25 languages: the threshold a
per-group rule would choose on more (if correlated) documents. Dev only: no test file is read.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import calibrate
from train_data import DEFAULT_SOURCES, SOURCES, Reader, load_mapping
from train_multilingual import ROMANCE, USE_OTHERS

from beacon.contextual import calibration, multilingual

SUPPORTED = {"spa_Latn": "es", "fra_Latn": "fr", "deu_Latn": "de", "ita_Latn": "it",
             "por_Latn": "pt"}  # fmt: skip
Row = tuple[str, str, float]  # gold tier-1, answered tier-1, raw top-1 probability


def dev_rows(reader: Reader, code: str) -> list[Row]:
    """The head's top-1 answer and raw probability for each dev sentence of `code`."""
    mapping = load_mapping()
    text = reader.show(SOURCES["sib200"], f"data/annotated/{code}/dev.tsv")
    rows = []
    for row in csv.DictReader(io.StringIO(text), delimiter="\t"):
        gold = mapping[("sib200", row["category"])][0]
        found = multilingual.classify(title="", description="", text=row["text"].strip())
        rows.append((gold, found[0].id.split("-")[0], found[0].confidence))
    return rows


def windows(cal: np.ndarray, hit: np.ndarray) -> list[str]:
    """Share right per 0.1-wide window of calibrated confidence, 0.30 to 0.60."""
    out = []
    for lo in (0.3, 0.35, 0.4, 0.45, 0.5):
        w = (cal >= lo) & (cal < lo + calibrate.WINDOW)
        right = f"{hit[w].mean():.0%}" if w.any() else "-"
        out.append(f"[{lo:.2f}, {lo + calibrate.WINDOW:.2f}): {right} of {int(w.sum())}")
    return out


def main() -> int:
    """Print the diagnosis."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", type=Path, default=DEFAULT_SOURCES)
    parser.add_argument("--extra", action="store_true", help="also fit on 20 more languages")
    args = parser.parse_args()
    reader = Reader(args.sources)
    table = calibration.table()
    curve = table.curve("es")
    threshold = table.abstain_below
    by_language = {lang: dev_rows(reader, code) for code, lang in SUPPORTED.items()}
    withheld: Counter[tuple[str, bool]] = Counter()
    errors: Counter[tuple[str, str]] = Counter()
    for lang, rows in by_language.items():
        never = sum(g == a for g, a, _ in rows) / len(rows)
        kept = sum(g == a and curve(p) >= threshold for g, a, p in rows) / len(rows)
        print(f"{lang}: {len(rows)} sentences, top-1 never abstaining {never:.1%}, "
              f"at {threshold:.2f} {kept:.1%}")  # fmt: skip
        for g, a, p in rows:
            if curve(p) < threshold:
                withheld[(g, g == a)] += 1
            if g != a:
                errors[(g, a)] += 1
    right = sum(n for (_, ok), n in withheld.items() if ok)
    wrong = sum(n for (_, ok), n in withheld.items() if not ok)
    print(f"withheld at {threshold:.2f}: {right} right answers, {wrong} wrong ones")
    print("withheld by gold (right, wrong):",
          {g: (withheld[(g, True)], withheld[(g, False)]) for g in sorted({g for g, _ in withheld})})  # fmt: skip
    print("largest confusions (gold → answer):", errors.most_common(6))
    rows = [r for rs in by_language.values() for r in rs]
    hit = np.array([g == a for g, a, _ in rows], dtype=float)
    cal = np.array([curve(p) for _, _, p in rows])
    print("right by window of calibrated confidence:", "; ".join(windows(cal, hit)))
    if args.extra:
        extra = [r for code in ROMANCE + USE_OTHERS for r in dev_rows(reader, code)]
        for name, pool in (("es-pt dev", rows), ("es-pt + 20 languages dev", rows + extra)):
            raw = np.array([p for _, _, p in pool])
            right_pool = np.array([g == a for g, a, _ in pool], dtype=float)
            knots = calibrate.isotonic(raw, right_pool)
            fitted = calibration.Curve(tuple(k[0] for k in knots), tuple(k[1] for k in knots))
            pool_cal = np.array([fitted(p) for p in raw])
            t = calibrate.abstain_threshold(pool_cal, right_pool)
            own = np.array([fitted(p) for _, _, p in rows])
            print(f"{name}: {len(pool)} documents, {len(knots)} knots, per-group threshold "
                  f"{t:.2f}; es-pt dev top-1 at it {float(((own >= t) * hit).mean()):.1%}; "
                  + "; ".join(windows(pool_cal, right_pool)))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
