"""bench/contextual/calibrate.py: the isotonic fit, ECE, the abstain rule, and the shipped table
matching the engine it was fitted on."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
from tests.support import ROOT, load_script

from beacon.contextual import calibration

BENCH = ROOT / "bench" / "contextual"


calibrate = load_script(BENCH / "calibrate.py")


def test_isotonic_fit_is_monotone_keeps_the_mean_and_recovers_a_curve() -> None:
    rng = np.random.default_rng(16)
    x = rng.uniform(0, 1, 5000)
    truth = 0.1 + 0.8 * x**2  # overconfident at the bottom, underconfident at the top
    y = (rng.uniform(0, 1, 5000) < truth).astype(float)
    knots = calibrate.isotonic(x, y, min_block=40)
    xs, ys = [k[0] for k in knots], [k[1] for k in knots]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    assert all(b >= a for a, b in itertools.pairwise(ys))
    curve = calibration.Curve(tuple(xs), tuple(ys))
    fitted = np.array([curve(v) for v in x])
    assert abs(fitted.mean() - y.mean()) < 0.01
    assert np.abs(fitted - truth).mean() < 0.04
    assert calibrate.ece(fitted, y) < 0.03 < calibrate.ece(x, y)


def test_abstain_threshold_is_where_answers_stop_being_mostly_right() -> None:
    confidence = np.repeat(np.arange(0.05, 1.0, 0.1), 100)
    correct = (np.tile(np.arange(100), 10) < confidence * 100).astype(float)
    # answers stated at 0.45 are right 45% of the time: withheld; those at 0.55 are kept
    assert calibrate.abstain_threshold(confidence, correct) == 0.5
    always_right = np.ones_like(confidence)
    assert calibrate.abstain_threshold(confidence, always_right) == 0.0


def test_the_calibration_split_leaves_out_what_the_topic_head_was_trained_on(
    tmp_path: Path,
) -> None:
    rows = [
        {"id": f"{source}-{split}-{i}", "source": source, "language": "en", "split": split,
         "tier1": "IAB8", "text": "t"}
        for source in ("ag_news", "mind")
        for split in ("train", "dev", "test")
        for i in range(5)
    ] + [
        {"id": "sib-dev-0", "source": "sib200", "language": "fr", "split": "dev",
         "tier1": "IAB8", "text": "t"},
        {"id": "sib-train-0", "source": "sib200", "language": "fr", "split": "train",
         "tier1": "IAB8", "text": "t"},
        {"id": "world-dev-0", "source": "ag_news", "language": "en", "split": "dev",
         "tier1": "IAB12", "text": "t"},
    ]  # fmt: skip
    (tmp_path / "topics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    docs = [d for d in calibrate.documents(tmp_path) if d["source"] != "beacon_eval"]
    roles = {d["id"]: d["role"] for d in docs}
    # English: all of dev fitted on, test evaluated, train (the topic head's) not used
    assert {i for i, r in roles.items() if r == "calibration"} == {
        f"{s}-dev-{i}" for s in ("ag_news", "mind") for i in range(5)
    } | {"sib-dev-0"}
    assert {i for i, r in roles.items() if r == "evaluation"} == {
        f"{s}-test-{i}" for s in ("ag_news", "mind") for i in range(5)
    }
    own = [d for d in calibrate.documents(tmp_path) if d["source"] == "beacon_eval"]
    assert own and all(d["role"] == calibrate.own_split(d["id"]) for d in own)


def test_the_shipped_table_was_fitted_on_this_engine() -> None:
    shipped = json.loads((calibrate.TABLE_PATH).read_text("utf-8"))
    assert shipped["engine_fingerprint"] == calibrate.fingerprint(), (
        "the engine's scores changed since the calibration was fitted: "
        "run bench/contextual/calibrate.py --write and update docs/benchmarks.md"
    )
    assert calibration.parse(shipped) == calibration.table()
