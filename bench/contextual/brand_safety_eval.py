"""Evaluate the brand-safety levels on labelled public text (issue 16, "Brand safety").

Usage:
    .venv/bin/python bench/contextual/brand_safety_eval.py [--sources DIR] [--split test]
        [--errors CATEGORY] [--markdown]

Reads pinned git snapshots of public corpora (the same layout as train_data.py: a clone of
each repository under `<sources>/<owner>+<name>/repo`, files read with `git show
<commit>:<path>`), runs `brand_safety.assess` on every document (title + text, with the IAB
categories the engine finds) and reports precision and recall per labelled category and for
the overall "unsafe" decision (overall level ≥ medium). Nothing is downloaded and no corpus
text is written to the repository.

Labelled sets (each document's split is fixed: the corpus's own dev/test split where it has
one, else a hash of its id, 50/50):

| source | label | category checked |
|---|---|---|
| TweetEval `hate` (HatEval 2019) | hate / not-hate | hate_speech_acts_of_aggression |
| TweetEval `offensive` (OLID 2019) | offensive / not | obscenity_profanity |
| SMS Spam Collection v.1 | spam / ham | spam_harmful_content |
| 20 Newsgroups talk.politics.guns | topic | arms_ammunition (topic present, ≥ low) |
| 20 Newsgroups talk.politics.mideast | topic | death_injury_military_conflict (≥ low) |
| 20 Newsgroups, 10 everyday groups | safe | negatives for the two topic categories and the overall decision |

The overall "unsafe (≥ medium)" decision counts hate, offensive and spam documents as
positives and not-offensive tweets and the everyday newsgroups as negatives. HatEval's
not-hate tweets and the ham messages are left out of it (many are profane or sexual: not hate
and not spam do not mean safe), and so are the guns and mideast posts (discussion of a
sensitive subject, GARM's low).

Tuning discipline: the term list and thresholds were written looking at the dev split only
(`--split dev --errors KEY` lists the misses); the test split is run once for the report.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from train_data import Reader, Source, clean_usenet

from beacon.contextual import brand_safety, categories

DEFAULT_SOURCES = Path(os.environ.get("BEACON_CORPORA", "/work/.mirror"))

SOURCES: dict[str, Source] = {
    "tweeteval": Source(
        "cardiffnlp/tweeteval",
        "4fbd22cd78421f05b1ecdb4fc5725bc7a7bd8f66",
        "TweetEval (Barbieri et al. 2020): hate = HatEval 2019 (SemEval-2019 Task 5), "
        "offensive = OLID (SemEval-2019 Task 6); research use, Twitter terms",
        "hate and offensive tasks, validation (dev) and test splits",
    ),
    "sms_spam": Source(
        "hamzaaacodes/sms-spam-collection",
        "f3e73e1e74e6330b62d1ee1983bba2a063184c26",
        "SMS Spam Collection v.1 (Almeida & Gómez Hidalgo 2011): CC BY 4.0 (UCI repository)",
        "5,574 SMS messages labelled ham or spam",
    ),
    "newsgroups20": Source(
        "duboya/20Newsgroups",
        "fe9d3345c79f5916cbe130b0402643467d24cd53",
        "20 Newsgroups (Lang 1995): no licence stated, distributed freely for research",
        "20news-19997: 1,000 Usenet posts per group",
    ),
}
SAFE_GROUPS = (
    "comp.graphics", "comp.sys.mac.hardware", "misc.forsale", "rec.autos", "rec.motorcycles",
    "rec.sport.baseball", "rec.sport.hockey", "sci.electronics", "sci.med", "sci.space",
)  # fmt: skip
TOPIC_GROUPS = {
    "talk.politics.guns": "arms_ammunition",
    "talk.politics.mideast": "death_injury_military_conflict",
}
PER_GROUP = 150  # posts per newsgroup and split
MEDIUM = brand_safety.RANK["medium"]
LOW = brand_safety.RANK["low"]


@dataclass(frozen=True, slots=True)
class Doc:
    id: str
    title: str
    text: str
    split: str
    # category key → whether the label says it is present; absent keys are not checked
    labels: dict[str, bool]
    unsafe: bool | None  # the overall decision's label, None when left out of it


def _half(key: str) -> str:
    return "dev" if int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 2 == 0 else "test"


def read_tweeteval(reader: Reader) -> Iterator[Doc]:
    """TweetEval hate and offensive: the corpus's validation split is dev, its test is test."""
    source = SOURCES["tweeteval"]
    tasks = {"hate": "hate_speech_acts_of_aggression", "offensive": "obscenity_profanity"}
    for task, category in tasks.items():
        for part, split in (("val", "dev"), ("test", "test")):
            texts = reader.show(source, f"datasets/{task}/{part}_text.txt").splitlines()
            labels = reader.show(source, f"datasets/{task}/{part}_labels.txt").splitlines()
            for i, (text, label) in enumerate(zip(texts, labels, strict=True)):
                positive = label.strip() == "1"
                # HatEval's "not hate" tweets were collected with abusive keywords and are often
                # profane: not hate does not mean safe, so they stay out of the overall decision
                unsafe = positive if positive or task == "offensive" else None
                yield Doc(f"{task}-{part}-{i}", "", text, split, {category: positive}, unsafe)


def read_sms(reader: Reader) -> Iterator[Doc]:
    """SMS Spam Collection: a tab-separated label and message per line (after a header)."""
    lines = reader.show(SOURCES["sms_spam"], "SMSSpamCollection").splitlines()[1:]
    for i, line in enumerate(lines):
        label, _, text = line.partition("\t")
        spam = label.strip() == "spam"
        doc_id = f"sms-{i}"
        # ham is personal messages, often profane or sexual: not spam is not safe, so ham is
        # a negative for the spam category only
        yield Doc(doc_id, "", text, _half(doc_id), {"spam_harmful_content": spam}, spam or None)


def read_newsgroups(reader: Reader) -> Iterator[Doc]:
    """20 Newsgroups: PER_GROUP posts per group and split, headers and quotes stripped."""
    source = SOURCES["newsgroups20"]
    for group in (*SAFE_GROUPS, *TOPIC_GROUPS):
        names = sorted(reader.list_dir(source, f"20_newsgroups/{group}"))
        random.Random(group).shuffle(names)
        kept = {"dev": 0, "test": 0}
        for name in names:
            doc_id = f"ng-{group}-{name}"
            split = _half(doc_id)
            if kept[split] >= PER_GROUP:
                continue
            subject, body = clean_usenet(reader.show(source, f"20_newsgroups/{group}/{name}"))
            if len(body.split()) < 20:
                continue
            kept[split] += 1
            topic = TOPIC_GROUPS.get(group)
            # a topic group is checked for its own category only (guns posts do mention
            # deaths); the everyday groups are negatives for both
            labels = {topic: True} if topic else dict.fromkeys(TOPIC_GROUPS.values(), False)
            yield Doc(doc_id, subject, body, split, labels, None if topic else False)


READERS: tuple[Callable[[Reader], Iterator[Doc]], ...] = (read_tweeteval, read_sms, read_newsgroups)


def assess(doc: Doc) -> dict[str, Any]:
    """The brand-safety block for a document, with the engine's own IAB categories."""
    found = categories.classify(title=doc.title, description="", text=doc.text)
    return brand_safety.assess(title=doc.title, text=doc.text, categories=found).to_dict()


def _prf(pairs: list[tuple[bool, bool]]) -> tuple[int, int, str, str]:
    tp = sum(1 for gold, pred in pairs if gold and pred)
    fp = sum(1 for gold, pred in pairs if pred and not gold)
    fn = sum(1 for gold, pred in pairs if gold and not pred)
    precision = f"{tp / (tp + fp):.1%}" if tp + fp else "–"
    recall = f"{tp / (tp + fn):.1%}" if tp + fn else "–"
    return sum(1 for gold, _ in pairs if gold), len(pairs), precision, recall


def report(docs: list[Doc], results: list[dict[str, Any]]) -> list[str]:
    """Markdown rows: per category at ≥ low and ≥ medium, then the overall decision."""
    lines = [
        "| category | positives / documents | precision (≥ low) | recall (≥ low) "
        "| precision (≥ medium) | recall (≥ medium) |",
        "|---|---|---|---|---|---|",
    ]
    keys = sorted({key for doc in docs for key in doc.labels}, key=brand_safety.CATEGORIES.index)
    for key in keys:
        rows = [(d, r) for d, r in zip(docs, results, strict=True) if key in d.labels]
        ranks = [(d.labels[key], brand_safety.RANK[r["categories"][key]]) for d, r in rows]
        pos, n, p_low, r_low = _prf([(gold, rank >= LOW) for gold, rank in ranks])
        _, _, p_med, r_med = _prf([(gold, rank >= MEDIUM) for gold, rank in ranks])
        lines.append(f"| `{key}` | {pos} / {n} | {p_low} | {r_low} | {p_med} | {r_med} |")
    overall = [
        (d.unsafe, brand_safety.RANK[r["overall"]] >= MEDIUM)
        for d, r in zip(docs, results, strict=True)
        if d.unsafe is not None
    ]
    pos, n, precision, recall = _prf(overall)
    lines.append(f"| **overall unsafe (≥ medium)** | {pos} / {n} | | | {precision} | {recall} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=Path, default=DEFAULT_SOURCES)
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--errors", metavar="KEY", help="list misses of KEY (or 'overall')")
    args = parser.parse_args()
    reader = Reader(args.sources)
    docs = [doc for read in READERS for doc in read(reader) if doc.split == args.split]
    results = [assess(doc) for doc in docs]
    print(f"split {args.split}: {len(docs)} documents")
    for source in SOURCES.values():
        print(f"- {source.repo}@{source.commit[:7]} ({source.licence})")
    print()
    print("\n".join(report(docs, results)))
    if args.errors:
        for doc, result in zip(docs, results, strict=True):
            if args.errors == "overall":
                gold, rank = doc.unsafe, brand_safety.RANK[result["overall"]]
                threshold = MEDIUM
            elif args.errors in doc.labels:
                gold, rank = (
                    doc.labels[args.errors],
                    brand_safety.RANK[result["categories"][args.errors]],
                )
                threshold = LOW if args.errors in TOPIC_GROUPS.values() else MEDIUM
            else:
                continue
            if gold is not None and gold != (rank >= threshold):
                level = brand_safety.LEVELS[rank]
                print(
                    f"{'MISS' if gold else 'FALSE'} {level:6} {doc.id}: {doc.title} {doc.text[:300]!r}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
