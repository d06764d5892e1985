"""Build the labelled training/evaluation corpus for the supervised contextual classifier.

Usage:
    .venv/bin/python bench/contextual/train_data.py [--sources DIR] [--out DIR]

Reads public labelled corpora from git snapshots of their repositories, maps their labels to
IAB Content Taxonomy 1.0 tier-1 (and tier-2 where a label is that specific) through
`train_labels.tsv`, splits every source deterministically into train/dev/test, and writes
JSON Lines:

    <out>/topics.jsonl      {"id", "source", "language", "title", "text", "tier1", "tier2",
                             "label", "split"}
    <out>/sentiment.jsonl   {"id", "source", "language", "text", "sentiment", "split"}
    <out>/manifest.json     what was read (repository, pinned commit, licence) and counts

Sources (`--sources`, default `$BEACON_CORPORA` or `/work/.mirror`) is a directory holding one
git clone per repository, named `<owner>+<name>` with the repository (bare or not) in its
`repo` subdirectory: `<sources>/<owner>+<name>/repo`. Files are read with `git show
<commit>:<path>` at the commit pinned in SOURCES below, so the build is the same on any
machine that has those commits. Nothing here is downloaded; the data stays out of this
repository (it is written under build/, which git ignores) — only the scripts, the label
mapping and the trained weights are kept.

Never add the reserved independent-evaluation sets (BBC News of Greene & Cunningham, the
HuffPost News Category Dataset, UCI Sentiment Labelled Sentences, Financial PhraseBank,
Kaggle website classification): see issue 16.

Splits: a document's split is a hash of its source and group key (for SIB-200, its Flores
sentence index, so a sentence and its translations never straddle splits; SIB-200's own
train/dev/test split is kept), 80/10/10 train/dev/test.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import html
import io
import json
import os
import random
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
LABELS_FILE = HERE / "train_labels.tsv"
DEFAULT_OUT = HERE.parent.parent / "build" / "contextual"
DEFAULT_SOURCES = Path(os.environ.get("BEACON_CORPORA", "/work/.mirror"))

# Per-source caps keep the build small enough to embed on two shared CPUs (~25k documents).
NEWSGROUPS_PER_GROUP = 400
COOKING_MAX = 3000
INSURANCEQA_PER_DOMAIN = 100
# Reuters-21578: economic newswire only, most of it company results ("earn") and takeovers
# ("acq"); a seeded sample of at most this many articles per first TOPICS label keeps
# Business from swamping the corpus and spreads it over the commodity and macro topics.
REUTERS_PER_TOPIC = 80
REUTERS_MIN_WORDS = 40
SIB_LANGUAGES = {
    "eng_Latn": "en",
    "spa_Latn": "es",
    "fra_Latn": "fr",
    "deu_Latn": "de",
    "ita_Latn": "it",
    "por_Latn": "pt",
}
# French only: MasakhaNEWS English is mostly BBC News articles, the publisher of a reserved
# independent-evaluation set (BBC News, Greene & Cunningham); it is kept out of training so
# that check stays independent of the publisher's style too.
MASAKHANEWS_LANGUAGES = {"fra": "fr"}


@dataclass(frozen=True, slots=True)
class Source:
    """One repository snapshot the build reads."""

    repo: str  # owner/name on GitHub
    commit: str
    licence: str
    what: str


SOURCES: dict[str, Source] = {
    "ag_news": Source(
        "madhubandru/Text-Classification-on-News-Articles-using-BERT-Framework",
        "082f2db7c08a8fa3e19c46df0b4b5b0a5f81d1cd",
        "AG's corpus: non-commercial research use (Zhang, Zhao & LeCun 2015 release)",
        "AG News test split (7,600 news title + description, 4 classes)",
    ),
    "newsgroups20": Source(
        "duboya/20Newsgroups",
        "fe9d3345c79f5916cbe130b0402643467d24cd53",
        "20 Newsgroups (Lang 1995): no licence stated, distributed freely for research",
        "20news-19997: 1,000 Usenet posts per group, 20 groups",
    ),
    "masakhanews": Source(
        "masakhane-io/masakhane-news",
        "819be052e79e0a600e0ed4a7356594681cb5c4f3",
        "MasakhaNEWS: AFL-3.0 (dataset card); articles mostly from BBC News (2020s)",
        "MasakhaNEWS French dev+test (headline + article, 6 topics)",
    ),
    "sib200": Source(
        "dadelani/sib-200",
        "593cea88519930f776c1a4a1980b6a35b39dca57",
        "SIB-200: CC BY-SA 4.0 (Flores-200 sentences)",
        "SIB-200 topic sentences, en/es/fr/de/it/pt (1,004 sentences each, 7 topics)",
    ),
    "cooking_se": Source(
        "HuStanding/ml",
        "890d481df3da334b1f3b13ce43eb50df829915b7",
        "Cooking Stack Exchange question titles: CC BY-SA 3.0 (fastText tutorial file)",
        "15,404 Cooking Stack Exchange question titles",
    ),
    "wikihow_steps": Source(
        "tangminji/NoisywikiHow-dataset",
        "730575ea2d844f4ac79c2ee7d9058db4ea59018c",
        "wikiHow text: CC BY-NC-SA 3.0 (non-commercial; NoisywikiHow, Wu et al. 2023, states no"
        " licence of its own)",
        "NoisywikiHow clean val + test: 15,800 wikiHow steps, 158 wikiHow categories × 100",
    ),
    "insuranceqa": Source(
        "shuzi/insuranceQA",
        "5c380dd086067adacc2fec3bfa920a78e57bdcf6",
        "InsuranceQA (Feng et al. 2015): research use only (README); questions from users of"
        " insurancelibrary.com",
        "InsuranceQA V2 questions (all 16,889, word-index encoded), 12 insurance domains",
    ),
    "mind": Source(
        "Farabi667/AI-Term-Project",
        "c83c37b18c1820abbd8ba6955912ac1e61e62fa1",
        "MIND (Wu et al., ACL 2020): Microsoft Research License Terms, non-commercial research"
        " use; news from Microsoft News (MSN), 2019",
        "2,000 rows of MIND-small train news.tsv (a project's sample): category, subcategory,"
        " title, abstract of Microsoft News articles",
    ),
    "reuters21578": Source(
        "loki86/ksr_zadanie1V2",
        "d16457fd9d6d2b623fffc163746092b89a6e2fef",
        "Reuters-21578 Distribution 1.0 (Lewis): Reuters Ltd. and Carnegie Group allow free"
        " distribution for research purposes only",
        "Reuters-21578 SGML files (1987 economic newswire, title + body, TOPICS labels);"
        " reut2-003 read from its unedited copy reut2-003-full.sgm",
    ),
    "gnad10k": Source(
        "tblock/10kGNAD",
        "da845fe4a16f02a8de10903ffbc636d1c8d21862",
        "10kGNAD (Block 2019, from the One Million Posts Corpus): CC BY-NC-SA 4.0"
        " (non-commercial); repository code MIT",
        "10kGNAD test.csv: 1,028 German derStandard.at articles (lede + body, 9 sections); its"
        " train.csv and articles.csv are absent from the snapshot. Read by"
        " train_multilingual.py only, not part of topics.jsonl",
    ),
    "tweeteval": Source(
        "cardiffnlp/tweeteval",
        "4fbd22cd78421f05b1ecdb4fc5725bc7a7bd8f66",
        "TweetEval sentiment (SemEval-2017 Task 4): research use, Twitter terms",
        "3-way tweet sentiment, validation + test (14,284 tweets)",
    ),
    "semeval_tweets": Source(
        "cbaziotis/datastories-semeval2017-task4",
        "faeee5fd1c2cf38e32179a4676dff53ae01adfa8",
        "SemEval 2013-2016 Task 4A tweets (Nakov et al.; Rosenthal et al.): research use,"
        " Twitter terms; repository code MIT",
        "3-way tweet sentiment, SemEval 2013-2016 subtask A train/dev/test files as downloaded"
        " (TweetEval's training pool); training only, tweets also in TweetEval dropped",
    ),
    "sst2": Source(
        "tonyzhaozh/few-shot-learning",
        "e04d8643be91c2cce63f33e07760ff75d5aa3ad0",
        "SST-2 (Socher et al. 2013): research use",
        "binary movie-review sentence sentiment (stsa.binary train/dev/test)",
    ),
    "sst5": Source(
        "prrao87/fine-grained-sentiment",
        "a4401669eecbe9dda494faf36afe1e6a0b065a38",
        "SST (Socher et al. 2013): research use; repository code MIT",
        "SST-5 movie-review sentences and phrases (1-5, collapsed to 3-way)",
    ),
    "amazon_mds": Source(
        "muko034/sentiment-prediction",
        "d01bfa53354a626230bfeba806f4aaad23a7a5e5",
        "Multi-Domain Sentiment Dataset (Blitzer, Dredze & Pereira 2007): research use",
        "Amazon product reviews, books/dvd/electronics/kitchen, 1,000 positive (4-5 stars) "
        "and 1,000 negative (1-2 stars) each, title + text",
    ),
}


class SourceMissing(RuntimeError):
    """A source repository or pinned commit is not under --sources."""


class Reader:
    """Reads files of pinned repository snapshots under one sources directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _git_dir(self, source: Source) -> Path:
        path = self.root / source.repo.replace("/", "+") / "repo"
        if not path.exists():
            raise SourceMissing(f"{source.repo}: no clone at {path}")
        return path

    def show_bytes(self, source: Source, path: str) -> bytes:
        """The bytes of `path` at the pinned commit (for compressed files)."""
        result = subprocess.run(
            ["git", "-C", str(self._git_dir(source)), "show", f"{source.commit}:{path}"],
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            message = result.stderr.decode(errors="replace").strip()
            raise SourceMissing(f"{source.repo}@{source.commit[:10]}:{path}: {message}")
        return result.stdout

    def show(self, source: Source, path: str) -> str:
        """The text of `path` at the pinned commit."""
        return self.show_bytes(source, path).decode("utf-8", errors="replace")

    def list_dir(self, source: Source, path: str) -> list[str]:
        """Names of the entries of directory `path` at the pinned commit."""
        result = subprocess.run(
            ["git", "-C", str(self._git_dir(source)), "ls-tree", "--name-only", source.commit,
             path.rstrip("/") + "/"],
            capture_output=True,
            check=True,
        )  # fmt: skip
        return [line.rsplit("/", 1)[-1] for line in result.stdout.decode().splitlines()]


def load_mapping(path: Path = LABELS_FILE) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(source, label) → (tier1, tier2 or None); labels mapped to "-" are absent."""
    mapping: dict[tuple[str, str], tuple[str, str | None]] = {}
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = csv.reader((line for line in lines if not line.startswith("#")), delimiter="\t")
    next(rows)  # header
    for row in rows:
        source, label, tier1, tier2 = row[:4]
        if tier1 != "-":
            mapping[(source, label)] = (tier1, None if tier2 == "-" else tier2)
    return mapping


def load_left_out(path: Path = LABELS_FILE) -> set[tuple[str, str]]:
    """(source, label) pairs mapped to "-": left out, and they stop `map_label`'s fallbacks."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = csv.reader((line for line in lines if not line.startswith("#")), delimiter="\t")
    next(rows)  # header
    return {(row[0], row[1]) for row in rows if row[2] == "-"}


def map_label(
    mapping: dict[tuple[str, str], tuple[str, str | None]],
    left_out: set[tuple[str, str]],
    source: str,
    label: str,
) -> tuple[str, str | None] | None:
    """The IAB target of a source label: the label's own row, else its "category/*" row (for
    "category/subcategory" labels, MIND's), else the source's "*" row; the first of these keys
    that the file names decides, so a label mapped to "-" is left out even under a "*" row."""
    keys = [label]
    if "/" in label:
        keys.append(label.split("/", 1)[0] + "/*")
    keys.append("*")
    for key in keys:
        if (source, key) in left_out:
            return None
        if (source, key) in mapping:
            return mapping[(source, key)]
    return None


def split_of(key: str) -> str:
    """Deterministic 80/10/10 split from a stable key."""
    bucket = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 100
    return "train" if bucket < 80 else "dev" if bucket < 90 else "test"


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def read_ag_news(reader: Reader) -> list[dict[str, Any]]:
    """AG News: label,title,description rows (the description is the article's lede)."""
    text = reader.show(SOURCES["ag_news"], "ag_news_csv/test.csv")
    rows = csv.reader(io.StringIO(text))
    next(rows)  # header
    docs = []
    for i, (label, title, description) in enumerate(rows):
        body = _clean(description.replace("\\", " "))
        docs.append(
            {"id": f"ag_news-{i}", "label": label, "title": _clean(title),
             "text": body, "language": "en", "group": f"ag_news-{i}"}
        )  # fmt: skip
    return docs


_HEADER_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*: ")
_WROTE_RE = re.compile(r"(writes|wrote|says):?\s*$", re.IGNORECASE)


def clean_usenet(raw: str) -> tuple[str, str]:
    """(subject, body) of a Usenet post with headers, quotes and signature removed.

    The headers name the newsgroup (the label) and the quoted replies repeat other posts, so
    both would leak; the signature is noise.
    """
    head, _, body = raw.partition("\n\n")
    subject = ""
    for line in head.splitlines():
        if line.lower().startswith("subject:"):
            subject = line.split(":", 1)[1].strip()
            subject = re.sub(r"^(re:\s*)+", "", subject, flags=re.IGNORECASE)
    lines: list[str] = []
    for line in body.splitlines():
        stripped = line.strip()
        if stripped == "--" or stripped.startswith("-- "):
            break  # signature
        if stripped.startswith(("> ", ">", "|", ":")) or _WROTE_RE.search(stripped):
            continue
        if _HEADER_RE.match(stripped) and len(lines) < 3:
            continue  # forwarded header block at the top
        lines.append(line)
    return subject, _clean("\n".join(lines))


def read_newsgroups(reader: Reader) -> list[dict[str, Any]]:
    """20 Newsgroups: a capped, seeded sample per group, headers and quotes stripped."""
    source = SOURCES["newsgroups20"]
    docs = []
    for group in sorted(reader.list_dir(source, "20_newsgroups")):
        names = sorted(reader.list_dir(source, f"20_newsgroups/{group}"))
        random.Random(group).shuffle(names)
        kept = 0
        for name in names:
            if kept >= NEWSGROUPS_PER_GROUP:
                break
            subject, body = clean_usenet(reader.show(source, f"20_newsgroups/{group}/{name}"))
            if len(body.split()) < 20:
                continue  # one-liners carry no topic
            kept += 1
            docs.append(
                {"id": f"newsgroups20-{group}-{name}", "label": group, "title": subject,
                 "text": body, "language": "en", "group": f"newsgroups20-{name}"}
            )  # fmt: skip
    return docs


def read_masakhanews(reader: Reader) -> list[dict[str, Any]]:
    """MasakhaNEWS French (English left out, see MASAKHANEWS_LANGUAGES): category, headline, text, url (dev and test files)."""
    docs = []
    for code, language in MASAKHANEWS_LANGUAGES.items():
        for part in ("dev", "test"):
            text = reader.show(SOURCES["masakhanews"], f"data/{code}/{part}.tsv")
            rows = csv.DictReader(io.StringIO(text), delimiter="\t")
            for i, row in enumerate(rows):
                key = row.get("url") or f"{code}-{part}-{i}"
                docs.append(
                    {"id": f"masakhanews-{code}-{part}-{i}", "label": row["category"],
                     "title": _clean(row["headline"]), "text": _clean(row["text"]),
                     "language": language, "group": f"masakhanews-{key}"}
                )  # fmt: skip
    return docs


def read_sib200(reader: Reader) -> list[dict[str, Any]]:
    """SIB-200 in six languages; its own split, grouped by Flores sentence index."""
    docs = []
    for code, language in SIB_LANGUAGES.items():
        for part in ("train", "dev", "test"):
            text = reader.show(SOURCES["sib200"], f"data/annotated/{code}/{part}.tsv")
            for row in csv.DictReader(io.StringIO(text), delimiter="\t"):
                docs.append(
                    {"id": f"sib200-{code}-{row['index_id']}", "label": row["category"],
                     "title": "", "text": _clean(row["text"]), "language": language,
                     "group": f"sib200-{row['index_id']}", "split": part}
                )  # fmt: skip
    return docs


def read_cooking(reader: Reader) -> list[dict[str, Any]]:
    """Cooking Stack Exchange question titles (their tags are dropped: all are Food & Drink)."""
    text = reader.show(SOURCES["cooking_se"], "fasttext/data/cooking.stackexchange.txt")
    titles = []
    for line in text.splitlines():
        words = [w for w in line.split() if not w.startswith("__label__")]
        if len(words) >= 4:
            titles.append(" ".join(words))
    order = list(range(len(titles)))
    random.Random("cooking_se").shuffle(order)
    return [
        {"id": f"cooking_se-{i}", "label": "*", "title": titles[i], "text": "",
         "language": "en", "group": f"cooking_se-{i}"}
        for i in sorted(order[:COOKING_MAX])
    ]  # fmt: skip


_DETOKENIZE = (
    (re.compile(r" (n't|'s|'re|'ve|'ll|'d|'m)\b", re.IGNORECASE), r"\1"),
    (re.compile(r" ([,.;:!?%])"), r"\1"),
    (re.compile(r"``\s*|\s*''"), '"'),
    (re.compile(r"-LRB-\s*"), "("),
    (re.compile(r"\s*-RRB-"), ")"),
)
# SST-5 label (1-5 in the sentence files, 0-4 in the trees) → three-way.
_SST5_LABELS = ("negative", "negative", "neutral", "positive", "positive")
# Treebank phrases: only multi-word ones (single words are mostly "neutral" and teach little),
# from training trees only (so no test sentence's phrases are trained on), capped.
SST_PHRASE_MIN_WORDS = 4
SST_PHRASES_MAX = 20000


def detokenize(text: str) -> str:
    """Undo Penn Treebank spacing ("it 's good ." → "it's good.") so SST reads like web text."""
    for pattern, replacement in _DETOKENIZE:
        text = pattern.sub(replacement, text)
    return _clean(text)


def tree_phrases(tree: str) -> list[tuple[int, str]]:
    """(label, phrase) of every subtree of a PTB-style sentiment tree, root first."""
    stack: list[tuple[int, list[str]]] = []
    out: list[tuple[int, str]] = []
    for token in re.findall(r"\(|\)|[^\s()]+", tree):
        if token == "(":
            stack.append((-1, []))
        elif token == ")":
            label, words = stack.pop()
            out.append((label, " ".join(words)))
            if stack:
                stack[-1][1].extend(words)
        elif stack and stack[-1][0] == -1 and not stack[-1][1] and token.isdigit():
            stack[-1] = (int(token), [])
        else:
            stack[-1][1].append(token)
    return out[::-1]


def read_wikihow_steps(reader: Reader) -> list[dict[str, Any]]:
    """NoisywikiHow's clean val and test files: one wikiHow step (a sentence) per row.

    The label is the wikiHow category of the step's article. The article itself is not in the
    files, so the group key is the folded step text: a step repeated across articles or files
    lands in one split.
    """
    docs = []
    seen: set[str] = set()
    for part in ("val", "test"):
        text = reader.show(SOURCES["wikihow_steps"], f"noisy/{part}.csv")
        for row in csv.DictReader(io.StringIO(text)):
            step = _clean(re.sub(r" ([.,;:!?')])", r"\1", row["step"]).replace("( ", "("))
            key = step.lower()
            if len(step.split()) < 4 or key in seen:
                continue
            seen.add(key)
            docs.append(
                {"id": f"wikihow_steps-{row['step_id']}", "label": row["cat"], "title": "",
                 "text": step[:1].upper() + step[1:], "language": "en",
                 "group": f"wikihow_steps-{key}"}
            )  # fmt: skip
    return docs


def read_insuranceqa(reader: Reader) -> list[dict[str, Any]]:
    """InsuranceQA V2 user questions (domain, word indices), decoded, a seeded sample per domain."""
    source = SOURCES["insuranceqa"]
    vocabulary = dict(
        line.split("\t", 1)
        for line in reader.show(source, "V2/vocabulary").splitlines()
        if "\t" in line
    )
    raw = reader.show_bytes(source, "V2/InsuranceQA.question.anslabel.raw.encoded.gz")
    by_domain: dict[str, list[tuple[int, str]]] = {}
    seen: set[str] = set()
    for i, line in enumerate(gzip.decompress(raw).decode("utf-8").splitlines()):
        domain, encoded = line.split("\t")[:2]
        question = _clean(" ".join(vocabulary.get(token, "") for token in encoded.split()))
        if len(question.split()) < 4 or question.lower() in seen:
            continue
        seen.add(question.lower())
        by_domain.setdefault(domain, []).append((i, question))
    docs = []
    for domain, questions in sorted(by_domain.items()):
        random.Random(f"insuranceqa-{domain}").shuffle(questions)
        for i, question in sorted(questions[:INSURANCEQA_PER_DOMAIN]):
            docs.append(
                {"id": f"insuranceqa-{i}", "label": domain, "title": question, "text": "",
                 "language": "en", "group": f"insuranceqa-{question.lower()}"}
            )  # fmt: skip
    return docs


def read_mind(reader: Reader) -> list[dict[str, Any]]:
    """MIND news.tsv rows (id, category, subcategory, title, abstract, url, entities): the
    label is "category/subcategory" (train_labels.tsv maps the subcategory where the category
    alone is too broad, e.g. news/newspolitics vs news/newsworld)."""
    text = reader.show(SOURCES["mind"], "MINDsmall_train/news.tsv")
    docs = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) < 5 or not fields[3].strip():
            continue
        news_id, category, subcategory, title, abstract = fields[:5]
        docs.append(
            {"id": f"mind-{news_id}", "label": f"{category}/{subcategory}",
             "title": _clean(title), "text": _clean(abstract), "language": "en",
             "group": f"mind-{news_id}"}
        )  # fmt: skip
    return docs


_REUTERS_RE = re.compile(r"<REUTERS([^>]*)>(.*?)</REUTERS>", re.DOTALL)
REUTERS_FILES = tuple(
    "reut2-003-full.sgm" if i == 3 else f"reut2-{i:03d}.sgm" for i in range(22)
)  # fmt: skip


def _sgml_field(doc: str, name: str) -> str:
    found = re.search(rf"<{name}>(.*?)</{name}>", doc, re.DOTALL)
    return html.unescape(found.group(1)) if found else ""


def _unmark(text: str) -> str:
    """Reuters writes company names and tickers as <Name>: keep the name, drop the marks."""
    return re.sub(r"<([^<>]*)>", r"\1", text)


def read_reuters(reader: Reader) -> list[dict[str, Any]]:
    """Reuters-21578 articles with a TOPICS label and a body of at least REUTERS_MIN_WORDS
    words; the label is the first topic, at most REUTERS_PER_TOPIC (seeded) per label. The
    closing "Reuter" signature and the &#3; end-of-text mark are dropped."""
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for name in REUTERS_FILES:
        raw = reader.show_bytes(SOURCES["reuters21578"], name).decode("latin-1")
        for attributes, doc in _REUTERS_RE.findall(raw):
            new_id = re.search(r'NEWID="(\d+)"', attributes)
            topics = re.findall(r"<D>(.*?)</D>", _sgml_field(doc, "TOPICS"))
            body = _sgml_field(doc, "BODY").replace("\x03", " ")
            body = _clean(_unmark(re.sub(r"\s*Reuter\s*$", "", body.strip())))
            if not (new_id and topics) or len(body.split()) < REUTERS_MIN_WORDS:
                continue
            key = f"reuters21578-{new_id.group(1)}"
            by_topic.setdefault(topics[0], []).append(
                {"id": key, "label": topics[0], "title": _clean(_unmark(_sgml_field(doc, "TITLE"))),
                 "text": body, "language": "en", "group": key}
            )  # fmt: skip
    docs = []
    for topic, articles in sorted(by_topic.items()):
        random.Random(f"reuters21578-{topic}").shuffle(articles)
        docs += sorted(articles[:REUTERS_PER_TOPIC], key=lambda d: int(d["id"].rsplit("-", 1)[1]))
    return docs


def read_sentiment(reader: Reader) -> list[dict[str, Any]]:
    """TweetEval 3-way (val + test files), SST-5 3-way sentences and SST training-tree phrases;
    SST-2's test file as a 2-way check. The SST sets keep SST's own train/dev/test split, so a sentence is in
    the same split in both."""
    docs: list[dict[str, Any]] = []
    tweeteval = SOURCES["tweeteval"]
    names = {"0": "negative", "1": "neutral", "2": "positive"}
    for part in ("val", "test"):
        texts = reader.show(tweeteval, f"datasets/sentiment/{part}_text.txt").splitlines()
        labels = reader.show(tweeteval, f"datasets/sentiment/{part}_labels.txt").splitlines()
        for i, (text, label) in enumerate(zip(texts, labels, strict=True)):
            key = f"tweeteval-{part}-{i}"
            docs.append(
                {"id": key, "source": "tweeteval", "language": "en", "text": _clean(text),
                 "sentiment": names[label.strip()], "split": split_of(key)}
            )  # fmt: skip
    sst2 = SOURCES["sst2"]
    # SST-2's sentences are SST-5's positive and negative ones: only its test file is kept, as
    # the two-way check; training reads them (with the neutral ones) from SST-5.
    for part in ("test",):
        lines = reader.show(sst2, f"data/sst2/stsa.binary.{part}").splitlines()
        for i, line in enumerate(lines):
            label, _, text = line.partition(" ")
            if not text.strip():
                continue
            docs.append(
                {"id": f"sst2-{part}-{i}", "source": "sst2", "language": "en",
                 "text": detokenize(text), "sentiment": "positive" if label == "1" else "negative",
                 "split": part}
            )  # fmt: skip
    sst5 = SOURCES["sst5"]
    sentences: set[str] = set()
    for part in ("train", "dev", "test"):
        for i, line in enumerate(reader.show(sst5, f"data/sst/sst_{part}.txt").splitlines()):
            label, _, text = line.partition("\t")
            if not text.strip():
                continue
            sentences.add(text.strip().lower())
            docs.append(
                {"id": f"sst5-{part}-{i}", "source": "sst5", "language": "en",
                 "text": detokenize(text), "sentiment": _SST5_LABELS[int(label[-1]) - 1],
                 "split": part}
            )  # fmt: skip
    phrases: dict[str, int] = {}
    for tree in reader.show(sst5, "data/sst/raw_data/train.txt").splitlines():
        for label, phrase in tree_phrases(tree)[1:]:
            if len(phrase.split()) >= SST_PHRASE_MIN_WORDS and phrase.lower() not in sentences:
                phrases.setdefault(phrase, label)
    kept = sorted(phrases)
    random.Random("sst5_phrases").shuffle(kept)
    for i, phrase in enumerate(sorted(kept[:SST_PHRASES_MAX])):
        docs.append(
            {"id": f"sst5_phrases-{i}", "source": "sst5_phrases", "language": "en",
             "text": detokenize(phrase), "sentiment": _SST5_LABELS[phrases[phrase]],
             "split": "train"}
        )  # fmt: skip
    return docs


# SemEval Task 4A English files of 2013-2016 (the pool TweetEval's train and validation sets
# were drawn from). SemEval-2017's test set (TweetEval's test) is in other folders: never read.
# Session 12 could embed only ~38k of the ~47k tweets on the shared CPUs: the 2013 training
# file and the 2016 files are read; twitter-2013dev/2013test/2014test/2014sarcasm/2015train/
# 2015test-A (~9.5k tweets) are not yet.
SEMEVAL_FILES = (
    "twitter-2013train-A", "twitter-2016train-A", "twitter-2016dev-A", "twitter-2016devtest-A",
    "twitter-2016test-A",
)  # fmt: skip
_ESCAPE_RE = re.compile(r"\\u([0-9a-fA-F]{4})")
_MENTION_RE = re.compile(r"@\w+(?:['’]s\b)?")  # TweetEval writes "@name’s" as "@user"
_URL_RE = re.compile(r"https?://\S+")
# Keys of this many characters or more also match on their start: releases cut and edit
# tweets ("@name’s" → "@user", a truncated link), and a dropped look-alike costs nothing.
HELD_PREFIX = 25


def _unescape_tweet(text: str) -> str:
    """The downloaded files write non-ASCII as literal \\uXXXX (UTF-16 units, so emoji are
    surrogate pairs): decode them."""
    decoded = _ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return decoded.encode("utf-16", "surrogatepass").decode("utf-16", errors="replace")


def tweet_key(text: str) -> str:
    """What two copies of a tweet share whatever the release did to it: lower-cased letters
    and digits, without mentions (TweetEval writes @user), links, entities and \\uXXXX
    escapes (some TweetEval tweets keep them literally)."""
    text = html.unescape(_unescape_tweet(text)).lower()
    text = _URL_RE.sub(" ", _MENTION_RE.sub(" ", text))
    return re.sub(r"[^0-9a-z]+", "", text)


def read_semeval_tweets(reader: Reader, held: set[str]) -> list[dict[str, Any]]:
    """SemEval 2013-2016 Task 4A tweets (id, label, text rows), written as TweetEval writes
    tweets (mentions as @user), training split only: dev and test stay TweetEval's. A tweet
    whose `tweet_key` is in `held` (every TweetEval tweet: its validation and test sets, so
    no test tweet of TweetEval or SemEval-2017 is trained on twice or at all), or starts like
    one (HELD_PREFIX characters), or was already read is skipped."""
    docs = []
    seen = set(held)
    prefixes = {key[:HELD_PREFIX] for key in held if len(key) >= HELD_PREFIX}
    source = SOURCES["semeval_tweets"]
    for name in SEMEVAL_FILES:
        text = reader.show(source, f"dataset/Subtask_A/downloaded/{name}.tsv")
        for line in text.splitlines():
            fields = line.split("\t")
            if len(fields) < 3 or fields[1] not in ("negative", "neutral", "positive"):
                continue
            tweet = _clean(_unescape_tweet(fields[2]))
            if len(tweet) > 1 and tweet[0] == tweet[-1] == '"':
                tweet = tweet[1:-1].strip()
            key = tweet_key(tweet)
            if not key or key in seen or key[:HELD_PREFIX] in prefixes or tweet == "Not Available":
                continue
            seen.add(key)
            docs.append(
                {"id": f"semeval_tweets-{fields[0]}", "source": "semeval_tweets",
                 "language": "en", "text": _MENTION_RE.sub("@user", tweet),
                 "sentiment": fields[1], "split": "train"}
            )  # fmt: skip
    return docs


_REVIEW_RE = re.compile(r"<review>(.*?)</review>", re.DOTALL)
AMAZON_DOMAINS = ("books", "dvd", "electronics", "kitchen")


def _field(review: str, name: str) -> str:
    found = re.search(rf"<{name}>(.*?)</{name}>", review, re.DOTALL)
    return html.unescape(_clean(found.group(1))) if found else ""


def read_amazon_reviews(reader: Reader) -> list[dict[str, Any]]:
    """Multi-Domain Sentiment Dataset: positive.review / negative.review per domain (a
    pseudo-XML file read with patterns: it is not well-formed), split by a hash of the id."""
    docs = []
    for domain in AMAZON_DOMAINS:
        for polarity in ("positive", "negative"):
            raw = reader.show(SOURCES["amazon_mds"], f"data/xml/{domain}/{polarity}.review")
            for i, review in enumerate(_REVIEW_RE.findall(raw)):
                text = _field(review, "review_text")
                if not text:
                    continue
                key = f"amazon_mds-{domain}-{polarity}-{i}"
                docs.append(
                    {"id": key, "source": "amazon_mds", "language": "en",
                     "title": _field(review, "title"), "text": text, "sentiment": polarity,
                     "split": split_of(key)}
                )  # fmt: skip
    return docs


def read_factual_neutral(reader: Reader) -> list[dict[str, Any]]:
    """SIB-200's English sentences (Flores-200: Wikinews, Wikivoyage and Wikibooks prose) as
    *neutral*: an assumed label, not an annotation. The annotated sets have no informational
    article prose, and without it the head read neutral articles as positive."""
    docs = []
    for part in ("train", "dev", "test"):
        text = reader.show(SOURCES["sib200"], f"data/annotated/eng_Latn/{part}.tsv")
        for row in csv.DictReader(io.StringIO(text), delimiter="\t"):
            docs.append(
                {"id": f"sib200_neutral-{row['index_id']}", "source": "sib200_neutral",
                 "language": "en", "text": _clean(row["text"]), "sentiment": "neutral",
                 "split": part}
            )  # fmt: skip
    return docs


def read_gnad10k(reader: Reader) -> list[dict[str, Any]]:
    """10kGNAD's test.csv: "section;'text'" rows (the text is the article's lede and body, no
    separate title), mapped through train_labels.tsv and split 80/10/10 by row like every
    other source. Not in TOPIC_READERS: only the multilingual trainer reads it, so the English
    heads, blend.py and calibrate.py see the same corpus as before."""
    text = reader.show(SOURCES["gnad10k"], "test.csv")
    mapping, left_out = load_mapping(), load_left_out()
    docs = []
    for i, row in enumerate(csv.reader(io.StringIO(text), delimiter=";", quotechar="'")):
        target = map_label(mapping, left_out, "gnad10k", row[0])
        body = _clean(row[1])
        if target is None or not body:
            continue
        docs.append(
            {"id": f"gnad10k-{i}", "source": "gnad10k", "language": "de", "title": "",
             "text": body, "label": row[0], "tier1": target[0], "tier2": target[1],
             "split": split_of(f"gnad10k-{i}")}
        )  # fmt: skip
    return docs


TOPIC_READERS = {
    "ag_news": read_ag_news,
    "newsgroups20": read_newsgroups,
    "masakhanews": read_masakhanews,
    "sib200": read_sib200,
    "cooking_se": read_cooking,
    "wikihow_steps": read_wikihow_steps,
    "insuranceqa": read_insuranceqa,
    "mind": read_mind,
    "reuters21578": read_reuters,
}


def build(reader: Reader, out: Path) -> dict[str, Any]:
    """Read every source, map and split it, write the JSONL files; returns the manifest."""
    mapping = load_mapping()
    left_out = load_left_out()
    out.mkdir(parents=True, exist_ok=True)
    counts: Counter[str] = Counter()
    unmapped: Counter[str] = Counter()
    with (out / "topics.jsonl").open("w", encoding="utf-8") as handle:
        for name, read in TOPIC_READERS.items():
            for doc in read(reader):
                target = map_label(mapping, left_out, name, doc["label"])
                if target is None:
                    unmapped[f"{name}:{doc['label']}"] += 1
                    continue
                if not (doc["title"] or doc["text"]):
                    continue
                split = doc.pop("split", None) or split_of(doc.pop("group"))
                doc.pop("group", None)
                record = {"source": name, **doc, "tier1": target[0], "tier2": target[1]}
                record["split"] = split
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                counts[f"{name}/{doc['language']}/{split}"] += 1
                counts[f"tier1/{target[0]}"] += 1
    sentiment = read_sentiment(reader) + read_amazon_reviews(reader) + read_factual_neutral(reader)
    tweeteval = {tweet_key(doc["text"]) for doc in sentiment if doc["source"] == "tweeteval"}
    sentiment += read_semeval_tweets(reader, tweeteval)
    with (out / "sentiment.jsonl").open("w", encoding="utf-8") as handle:
        for doc in sentiment:
            handle.write(json.dumps(doc, ensure_ascii=False) + "\n")
            counts[f"sentiment/{doc['source']}/{doc['split']}/{doc['sentiment']}"] += 1
    manifest = {
        "sources": {
            name: {"repo": s.repo, "commit": s.commit, "licence": s.licence, "what": s.what}
            for name, s in SOURCES.items()
        },
        "counts": dict(sorted(counts.items())),
        "unmapped": dict(sorted(unmapped.items())),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main() -> int:
    """Build the corpus and print its counts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=Path, default=DEFAULT_SOURCES)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    try:
        manifest = build(Reader(args.sources), args.out)
    except SourceMissing as exc:
        print(f"missing source: {exc}", file=sys.stderr)
        return 1
    for key, value in manifest["counts"].items():
        print(f"{key}\t{value}")
    if manifest["unmapped"]:
        print("left out (no IAB mapping):", manifest["unmapped"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
