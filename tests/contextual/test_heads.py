"""The shipped softmax heads' loader (contextual/heads.py)."""

from __future__ import annotations

import numpy as np
import pytest

from beacon.contextual import heads


def _arrays(**changes: object) -> dict[str, object]:
    arrays: dict[str, object] = {
        "classes": np.array(["a", "b", "c"]),
        "weights": np.eye(3, dtype=np.float64),
        "bias": np.zeros(3),
        "temperature": np.array(2.0),
        "hash_dim": np.array(7),
    }
    arrays.update(changes)
    return arrays


def test_a_head_gives_calibrated_probabilities_and_keeps_the_other_arrays() -> None:
    head, rest = heads.from_arrays("test.npz", _arrays())
    assert head.classes == ("a", "b", "c") and head.weights.dtype == np.float32
    p = head.probabilities(np.array([2.0, 0.0, 0.0]))
    assert p.sum() == pytest.approx(1.0)
    # temperature 2 halves the logits: e^1 / (e^1 + 2)
    assert p[0] == pytest.approx(np.e / (np.e + 2), rel=1e-6)
    assert list(rest) == ["hash_dim"]


def test_a_head_with_a_hidden_layer_applies_relu_before_the_softmax() -> None:
    # hidden layer: units = relu(x - 1); softmax weights: identity
    arrays = _arrays(hidden_weights=np.eye(3), hidden_bias=-np.ones(3))
    head, rest = heads.from_arrays("test.npz", arrays)
    assert head.hidden is not None and "hidden_weights" not in rest
    p = head.probabilities(np.array([3.0, 0.5, -2.0]))
    # units (2, 0, 0) -> logits / temperature 2 = (1, 0, 0); without the ReLU they would differ
    assert p[0] == pytest.approx(np.e / (np.e + 2), rel=1e-6)
    assert p[1] == pytest.approx(p[2])


@pytest.mark.parametrize(
    "changes",
    [
        {"temperature": np.array(0.0)},
        {"temperature": np.array(-1.0)},
        {"weights": np.ones((3, 2))},
        {"bias": np.zeros(2)},
        {"weights": np.ones(3)},
        {"hidden_weights": np.ones((3, 4)), "hidden_bias": np.zeros(4)},
        {"hidden_weights": np.ones((3, 3)), "hidden_bias": np.zeros(2)},
        {"hidden_weights": np.ones((3, 3))},
    ],
    ids=[
        "zero-temperature",
        "negative-temperature",
        "too-few-columns",
        "short-bias",
        "1-d",
        "hidden-units-not-weights-rows",
        "short-hidden-bias",
        "hidden-without-bias",
    ],
)
def test_a_file_that_is_not_a_usable_head_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(RuntimeError, match=r"test\.npz"):
        heads.from_arrays("test.npz", _arrays(**changes))
