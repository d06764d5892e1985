"""Train the multilingual tier-1 head (contextual/multilingual.py) and measure it per language.

    .venv/bin/python bench/contextual/train_multilingual.py [--data build/contextual]
        [--sources /work/.mirror] [--variants all|ship] [--write]

Features: the USE multilingual embedding of each document's prefix (`multilingual.embed` of
`multilingual.page_prefix`, exactly what the engine embeds), cached in
<data>/embeddings-use.npz. The head is train.py's softmax regression (L2 and epochs chosen on
dev, temperature fitted on dev). Documents come from topics.jsonl (train_data.py):

* English labelled text (AG News, 20 Newsgroups, Cooking SE, wikiHow steps, InsuranceQA,
  SIB-200 en) with its splits: the categories SIB-200 lacks come from these;
* SIB-200 es/fr/de/it/pt with SIB-200's own train/dev/test;
* MasakhaNEWS French by its *original* files: `dev.tsv` documents may train, `test.tsv`
  documents are test only (topics.jsonl re-splits them by URL hash; not here);
* for the variants that ask for it (`gnad10k`), 10kGNAD: German news articles of more than
  one sentence (train_data.read_gnad10k, its own 80/10/10 split). Its dev rows are scored
  for every head, the shipped one included, beside the dev score (not in it).

Some variants add the SIB-200 *train* split of other languages, read from the SIB-200 snapshot
under --sources (the same Flores-200 sentences and labels as the six languages' train split,
in other words: more ways to say the same thing; their dev and test splits are never read).
Some put a hidden ReLU layer before the softmax (`train.train_hidden`).

Variants differ in which training documents they use, how much the SIB-200 and MasakhaNEWS
ones count, and the head's shape; the one shipped is chosen on the mean of two dev top-1s:
SIB-200 es/fr/de/it/pt (the languages) and the English corpora (the categories SIB-200
lacks). Test splits (SIB-200 test, MasakhaNEWS test.tsv, the English corpora's test) are read
only to report. ``--write`` saves the chosen head to src/beacon/contextual/data.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from train import (
    DEFAULT_DATA,
    L2_GRID,
    Features,
    HiddenModel,
    Model,
    evaluate_model,
    head_arrays,
    own_eval_docs,
    select_and_train,
    select_and_train_hidden,
)
from train_data import (
    DEFAULT_SOURCES,
    SOURCES,
    Reader,
    SourceMissing,
    load_mapping,
    read_gnad10k,
)
from train_features import embeddings, load_jsonl

from beacon.contextual import multilingual

HEAD_PATH = Path(multilingual.__file__).parent / "data" / multilingual.HEAD_FILE
OTHER_LANGUAGES = sorted(multilingual.LANGUAGES)
ENGLISH_SOURCES = ("ag_news", "newsgroups20", "cooking_se", "wikihow_steps", "insuranceqa")
# SIB-200 train splits of other languages (Flores-200 codes): Romance languages close to
# es/fr/it/pt, and the other languages the encoder was trained on.
ROMANCE = ("cat_Latn", "glg_Latn", "ron_Latn", "oci_Latn", "ast_Latn", "scn_Latn", "vec_Latn",
           "lij_Latn", "lmo_Latn", "fur_Latn", "srd_Latn")  # fmt: skip
USE_OTHERS = ("nld_Latn", "pol_Latn", "rus_Cyrl", "tur_Latn", "arb_Arab", "zho_Hans",
              "jpn_Jpan", "kor_Hang", "tha_Thai")  # fmt: skip
# SIB-200 train splits of 31 more European languages (session 14): Germanic, Slavic, Baltic,
# Uralic, Celtic, Greek, Basque, Maltese, Esperanto, and two Portuguese/Spanish-based creoles.
EUROPE = ("afr_Latn", "dan_Latn", "swe_Latn", "nob_Latn", "nno_Latn", "isl_Latn", "ltz_Latn",
          "lim_Latn", "fao_Latn", "ces_Latn", "slk_Latn", "slv_Latn", "hrv_Latn", "bos_Latn",
          "szl_Latn", "ukr_Cyrl", "bul_Cyrl", "mkd_Cyrl", "srp_Cyrl", "bel_Cyrl", "lit_Latn",
          "lvs_Latn", "ell_Grek", "hun_Latn", "fin_Latn", "est_Latn", "eus_Latn", "mlt_Latn",
          "epo_Latn", "kea_Latn", "pap_Latn")  # fmt: skip
# The categories of the head shipped before wikiHow and InsuranceQA joined the corpus.
OLD_CLASSES = ("IAB1", "IAB2", "IAB3", "IAB7", "IAB8", "IAB11", "IAB12", "IAB15", "IAB17",
               "IAB19", "IAB20", "IAB22", "IAB23")  # fmt: skip


@dataclass(frozen=True)
class Variant:
    """Which training documents, how often each SIB-200 / MasakhaNEWS one counts, the SIB-200
    train splits of which other languages are added, the hidden layer's width (0: none), and
    whether L2, epochs and temperature are chosen on a dev split where SIB-200 es/fr/de/it/pt
    weighs as much as the English corpora (else each dev row counts once: mostly English)."""

    keep: Callable[[dict[str, Any]], bool]
    repeat: int = 1
    extra: tuple[str, ...] = ()
    hidden: int = 0
    balanced_dev: bool = False
    gnad10k: bool = False


def _everything(doc: dict[str, Any]) -> bool:
    return True


def _half_wikihow(doc: dict[str, Any]) -> bool:
    """Every document but half of the wikiHow steps (a stable half, by id)."""
    return doc["source"] != "wikihow_steps" or zlib.crc32(doc["id"].encode()) % 2 == 0


BOTH = ROMANCE + USE_OTHERS


VARIANTS: dict[str, Variant] = {
    "sib200 (6 languages)": Variant(lambda d: d["source"] == "sib200"),
    "sib200 + English corpora": Variant(lambda d: d["source"] != "masakhanews"),
    "sib200 + English + MasakhaNEWS fr dev": Variant(_everything),
    "sib200 + English + MasakhaNEWS fr dev, sib/fr x3": Variant(_everything, 3),
    "sib200 + English + MasakhaNEWS fr dev, sib/fr x6": Variant(_everything, 6),
    "x3 + SIB-200 train of 11 Romance languages": Variant(_everything, 3, ROMANCE),
    "x3 + SIB-200 train of 11 Romance + 9 other USE languages": Variant(
        _everything, 3, ROMANCE + USE_OTHERS
    ),
    "x1 + SIB-200 train of 11 Romance + 9 other USE languages": Variant(
        _everything, 1, ROMANCE + USE_OTHERS
    ),
    "x3 + Romance + other USE languages, hidden 256": Variant(_everything, 3, BOTH, 256),
    "x3 + Romance + other USE, balanced dev": Variant(_everything, 3, BOTH, 0, True),
    "x6 + Romance + other USE, balanced dev": Variant(_everything, 6, BOTH, 0, True),
    "x3 + Romance + other USE, half wikiHow, balanced dev": Variant(
        _half_wikihow, 3, BOTH, 0, True
    ),
    "x3 + Romance + other USE, hidden 256, balanced dev": Variant(_everything, 3, BOTH, 256, True),
    "x3 + Romance + other USE, hidden 128, balanced dev": Variant(_everything, 3, BOTH, 128, True),
    "x6 + Romance + other USE, hidden 256, balanced dev": Variant(_everything, 6, BOTH, 256, True),
}
SHIPPED = "x6 + Romance + other USE, hidden 256, balanced dev"
# Session 16's candidate (docs/benchmarks.md, "Languages: German news articles (10kGNAD) for
# the multilingual head"): the shipped recipe plus 10kGNAD's train rows, counted x6 like the
# other non-English documents.
GNAD_CANDIDATE = "x6 + Romance + other USE + 10kGNAD, hidden 256, balanced dev"
VARIANTS[GNAD_CANDIDATE] = Variant(_everything, 6, BOTH, 256, True, gnad10k=True)
# Session 14's candidates (docs/benchmarks.md, "Languages: a head retrained with more
# translations"): the shipped recipe on today's corpus, and with 31 more European languages.
VARIANTS["x6 + Romance + other USE + European, hidden 256, balanced dev"] = Variant(
    _everything, 6, BOTH + EUROPE, 256, True
)
VARIANTS["x3 + Romance + other USE + European, hidden 256, balanced dev"] = Variant(
    _everything, 3, BOTH + EUROPE, 256, True
)
CANDIDATES = [
    SHIPPED,
    "x6 + Romance + other USE + European, hidden 256, balanced dev",
    "x3 + Romance + other USE + European, hidden 256, balanced dev",
]


def load_documents(data: Path) -> list[dict[str, Any]]:
    """topics.jsonl with MasakhaNEWS given its original split (dev.tsv → train, test.tsv → test)."""
    docs = load_jsonl(data / "topics.jsonl")
    for doc in docs:
        if doc["source"] == "masakhanews":
            doc["split"] = "test" if "-test-" in doc["id"] else "train"
    return docs


def sib200_train(reader: Reader, codes: tuple[str, ...]) -> list[dict[str, Any]]:
    """The SIB-200 train split of each language in `codes`, labelled like topics.jsonl's."""
    mapping = load_mapping()
    docs = []
    for code in codes:
        text = reader.show(SOURCES["sib200"], f"data/annotated/{code}/train.tsv")
        for row in csv.DictReader(io.StringIO(text), delimiter="\t"):
            tier1 = mapping[("sib200", row["category"])][0]
            docs.append(
                {"id": f"sib200-{code}-{row['index_id']}", "source": "sib200_extra",
                 "language": code, "title": "", "text": row["text"].strip(), "tier1": tier1,
                 "split": "train"}
            )  # fmt: skip
    return docs


def use_embedding(doc: dict[str, Any]) -> np.ndarray:
    """What the engine embeds for a page with this title and text."""
    return multilingual.embed(
        multilingual.page_prefix(title=doc.get("title", ""), text=doc["text"])
    )


def _rows(
    docs: list[dict[str, Any]], match: Callable[[dict[str, Any]], bool], split: str
) -> np.ndarray:
    return np.array([i for i, d in enumerate(docs) if match(d) and d["split"] == split])


def evaluation_sets(docs: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Named test row sets: SIB-200 test per language, MasakhaNEWS fr test, English corpora."""
    sets: dict[str, np.ndarray] = {}
    for language in ["en", *OTHER_LANGUAGES]:
        sets[f"sib200 {language}"] = np.array(
            [i for i, d in enumerate(docs)
             if d["source"] == "sib200" and d["language"] == language and d["split"] == "test"]
        )  # fmt: skip
    sets["masakhanews fr"] = np.array(
        [i for i, d in enumerate(docs) if d["source"] == "masakhanews" and d["split"] == "test"]
    )
    for source in ENGLISH_SOURCES:
        sets[f"{source} (en)"] = np.array(
            [i for i, d in enumerate(docs) if d["source"] == source and d["split"] == "test"]
        )
    return sets


def new_category_top1(
    model: Model | HiddenModel, features: Features, y: np.ndarray, docs: list[dict[str, Any]]
) -> dict[str, dict[str, float]]:
    """Top-1 (recall) on the English corpora's test rows of each category the old head lacked."""
    out = {}
    for label in model.classes:
        if label in OLD_CLASSES:
            continue
        rows = np.array([i for i, d in enumerate(docs) if d["tier1"] == label
                         and d["source"] in ENGLISH_SOURCES and d["split"] == "test"])  # fmt: skip
        if len(rows):
            hit = model.logits(features, rows).argmax(1) == y[rows]
            out[label] = {"n": len(rows), "top1": float(hit.mean())}
    return out


def run(
    data: Path,
    sources: Path,
    variants: list[str],
    write: Path | None,
    l2_grid: tuple[float, ...] = L2_GRID,
) -> dict[str, Any]:
    """Train each variant, report dev and test numbers, optionally write the chosen head."""
    extra_codes = tuple(dict.fromkeys(c for n in variants for c in VARIANTS[n].extra))
    docs = load_documents(data) + sib200_train(Reader(sources), extra_codes)
    if any(VARIANTS[n].gnad10k for n in variants):
        docs += read_gnad10k(Reader(sources))
    classes = sorted({d["tier1"] for d in docs}, key=lambda c: int(c[3:]))
    y = np.array([classes.index(d["tier1"]) for d in docs])
    features = Features(
        embeddings(docs, data / "embeddings-use.npz", embed=use_embedding), sparse=None
    )
    dev_sets = {
        "sib200 dev (es/fr/de/it/pt)": [
            _rows(docs, lambda d, lang=lang: d["source"] == "sib200" and d["language"] == lang,
                  "dev")
            for lang in OTHER_LANGUAGES
        ],
        "English corpora dev": [_rows(docs, lambda d: d["source"] in ENGLISH_SOURCES, "dev")],
    }  # fmt: skip
    gnad_rows = _rows(docs, lambda d: d["source"] == "gnad10k", "dev")
    # Scored beside the dev score, not in it (and only when a variant reads 10kGNAD).
    side_dev = {"10kGNAD dev (de)": [gnad_rows]} if len(gnad_rows) else {}
    own = own_eval_docs()
    own_x = embeddings(own, data / "embeddings-use.npz", embed=use_embedding)
    report: dict[str, Any] = {"classes": classes, "variants": {}}
    report["shipped_head_dev"] = shipped_head_dev(features.dense, y, classes, dev_sets)
    for label, row_sets in side_dev.items():
        report["shipped_head_dev"][label] = shipped_head_dev(
            features.dense, y, classes, {label: row_sets}
        )[label]
    print(json.dumps({"shipped head as is": report["shipped_head_dev"]}), flush=True)
    models: dict[str, Model | HiddenModel] = {}
    for name in variants:
        variant = VARIANTS[name]
        splits = np.array([d["split"] if variant.keep(d) else "unused" for d in docs])
        splits[splits == "test"] = "unused"  # test rows are never seen by training or selection
        is_extra = np.array([d["source"] == "sib200_extra" for d in docs])
        splits[is_extra & ~np.isin([d["language"] for d in docs], variant.extra)] = "unused"
        if not variant.gnad10k:
            splits[[d["source"] == "gnad10k" for d in docs]] = "unused"
        extra = [i for i, d in enumerate(docs) if splits[i] == "train"
                 and d["source"] in ("sib200", "masakhanews", "sib200_extra", "gnad10k")]  # fmt: skip
        repeats = [np.arange(len(docs)), np.repeat(extra, variant.repeat - 1)]
        if variant.balanced_dev:
            sib_dev = np.concatenate(dev_sets["sib200 dev (es/fr/de/it/pt)"])
            english_dev = dev_sets["English corpora dev"][0]
            repeats.append(np.repeat(sib_dev, len(english_dev) // len(sib_dev) - 1))
        index = np.concatenate(repeats).astype(int)
        print(f"{name}: {int((splits[index] == 'train').sum())} training rows", flush=True)
        model: Model | HiddenModel
        if variant.hidden:
            model, selection = select_and_train_hidden(
                features.dense[index], y[index], splits[index], classes, variant.hidden,
                l2_grid=l2_grid,
            )  # fmt: skip
        else:
            model, selection = select_and_train(
                Features(features.dense[index], None), y[index], splits[index], classes,
                l2_grid=l2_grid,
            )  # fmt: skip
        models[name] = model
        dev = {
            label: float(
                np.mean([(model.logits(features, r).argmax(1) == y[r]).mean() for r in rs])
            )
            for label, rs in {**dev_sets, **side_dev}.items()
        }
        dev_score = float(np.mean([dev[label] for label in dev_sets]))
        results = {}
        for label, rows in evaluation_sets(docs).items():
            metrics = evaluate_model(model, features, y, rows)  # type: ignore[arg-type]
            results[label] = {"n": metrics["n"], "top1": metrics["top1"], "top3": metrics["top3"],
                              "ece": metrics["ece_calibrated"]}  # fmt: skip
        own_top3 = np.argsort(-model.logits(Features(own_x, None)), axis=1)[:, :3]
        own_gold = np.array(
            [classes.index(d["tier1"]) if d["tier1"] in classes else -1 for d in own]
        )
        results["own eval set (en pages)"] = {
            "n": len(own),
            "top1": float((own_top3[:, 0] == own_gold).mean()),
            "top3": float((own_top3 == own_gold[:, None]).any(axis=1).mean()),
            "ece": None,
        }
        report["variants"][name] = {
            "selection": selection,
            "dev": dev,
            "dev_score": dev_score,
            "test": results,
            "new_categories_en_test": new_category_top1(model, features, y, docs),
        }
        print(json.dumps({"variant": name, "dev": dev, "dev_score": dev_score}), flush=True)
        print(
            json.dumps({"test": {k: round(v["top1"], 3) for k, v in results.items()}}), flush=True
        )
    # Both halves count: SIB-200 alone has 6 tier-1 labels, a page can be about any of 23.
    chosen = max(variants, key=lambda n: report["variants"][n]["dev_score"])
    report["chosen"] = chosen
    if write:
        save(models[chosen], write)
        print(f"wrote {write} ({chosen})")
    return report


def shipped_head_dev(
    x: np.ndarray, y: np.ndarray, classes: list[str], dev_sets: dict[str, list[np.ndarray]]
) -> dict[str, float]:
    """The dev top-1s (and their mean, `dev_score`) of the head in the package now, on the same
    rows as the variants: the baseline a retrained head has to beat."""
    head = multilingual.head()
    order = [classes.index(c) for c in head.classes]
    dev = {}
    for label, row_sets in dev_sets.items():
        hits = []
        for rows in row_sets:
            best = np.array([order[int(np.argmax(head.probabilities(x[i])))] for i in rows])
            hits.append(float((best == y[rows]).mean()))
        dev[label] = float(np.mean(hits))
    return {**dev, "dev_score": float(np.mean(list(dev.values())))}


def save(model: Model | HiddenModel, path: Path | None = None) -> None:
    """The head as contextual/heads.py loads it (with the hidden layer's arrays if it has one),
    at `path` or the package's HEAD_PATH."""
    np.savez_compressed(path or HEAD_PATH, **head_arrays(model))


def markdown(report: dict[str, Any]) -> str:
    """Per variant: the dev top-1s, then top-1 / top-3 per evaluation set."""
    names = list(next(iter(report["variants"].values()))["test"])
    lines = ["| training documents | dev: SIB-200 es-pt / English / 10kGNAD de | " + " | ".join(names) + " |",
             "|---" * (len(names) + 2) + "|"]  # fmt: skip
    for variant, row in report["variants"].items():
        cells = [f"{row['test'][n]['top1']:.1%} / {row['test'][n]['top3']:.1%}" for n in names]
        mark = " (shipped)" if variant == report["chosen"] else ""
        dev = " / ".join(f"{v:.1%}" for v in row["dev"].values())
        lines.append(f"| {variant}{mark} | {dev} | " + " | ".join(cells) + " |")
    chosen = report["variants"][report["chosen"]]["new_categories_en_test"]
    lines += ["", "| category (English corpora test, shipped head) | n | top-1 |", "|---|---|---|"]
    lines += [f"| {label} | {row['n']} | {row['top1']:.1%} |" for label, row in chosen.items()]
    return "\n".join(lines)


def main() -> int:
    """Train, print the markdown table, write the report (and the head with --write)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sources", type=Path, default=DEFAULT_SOURCES)
    parser.add_argument("--variants", choices=["all", "ship", "candidates"], default="all")
    parser.add_argument("--write", action="store_true", help="save the chosen head")
    parser.add_argument(
        "--variant",
        action="append",
        choices=list(VARIANTS),
        help="train only these variants (instead of --variants)",
    )
    parser.add_argument(
        "--l2", type=float, action="append", help="the L2 values to search (default: train.L2_GRID)"
    )
    parser.add_argument("--report", type=Path, help="where to write the JSON report")
    parser.add_argument("--head-out", type=Path, help="save the chosen head here (not --write)")
    args = parser.parse_args()
    variants = {"all": list(VARIANTS), "ship": [SHIPPED], "candidates": CANDIDATES}[args.variants]
    variants = args.variant or variants
    try:
        head_out = HEAD_PATH if args.write else args.head_out
        report = run(args.data, args.sources, variants, head_out, tuple(args.l2 or L2_GRID))
    except SourceMissing as exc:
        print(f"missing source: {exc}", file=sys.stderr)
        return 1
    (args.report or args.data / "report-multilingual.json").write_text(json.dumps(report, indent=1))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
