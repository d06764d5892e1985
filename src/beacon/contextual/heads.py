"""The trained softmax heads the engine ships (multilingual categories, the English topic
head, English sentiment).

Each is a multinomial logistic regression fitted by ``bench/contextual/train.py``'s trainer and
saved as an ``.npz`` under ``data/``: class names, a weight matrix (features × classes), a bias
and the temperature fitted on the dev split, so that its probabilities are calibrated. A head
may put one ReLU layer before the softmax (``bench/contextual/train.py``'s
``train_hidden``): then the file also has ``hidden_weights`` (features × units) and
``hidden_bias`` (units), and the softmax weights are units × classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class SoftmaxHead:
    """Softmax regression over a feature vector (or over one ReLU layer of it),
    temperature-calibrated."""

    classes: tuple[str, ...]
    weights: np.ndarray  # (features or hidden units, classes)
    bias: np.ndarray  # (classes,)
    temperature: float
    # (weights (features, units), bias (units,)) of the ReLU layer, if the head has one.
    hidden: tuple[np.ndarray, np.ndarray] | None = None

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities of one feature vector, in ``classes`` order."""
        x = features.astype(np.float32)
        if self.hidden is not None:
            x = np.maximum(x @ self.hidden[0] + self.hidden[1], 0)
        logits = (x @ self.weights + self.bias) / self.temperature
        exp = np.exp(logits - logits.max())
        return np.asarray(exp / exp.sum())


def load(file: str, *, weights: str = "weights") -> tuple[SoftmaxHead, dict[str, Any]]:
    """The head saved as ``data/<file>`` (see ``from_arrays``)."""
    path = resources.files("beacon.contextual") / "data" / file
    with path.open("rb") as handle, np.load(handle) as data:
        return from_arrays(file, {key: data[key] for key in data.files}, weights=weights)


def from_arrays(
    name: str, arrays: dict[str, Any], *, weights: str = "weights"
) -> tuple[SoftmaxHead, dict[str, Any]]:
    """A head from a saved file's arrays (its weight matrix under the key ``weights``, its
    hidden layer's under ``hidden_weights`` and ``hidden_bias`` if it has one), and the file's
    other arrays; raises RuntimeError when they do not describe a usable head."""
    rest = dict(arrays)
    hidden = None
    if "hidden_weights" in rest or "hidden_bias" in rest:
        hidden = (
            np.asarray(rest.pop("hidden_weights", np.zeros(0)), dtype=np.float32),
            np.asarray(rest.pop("hidden_bias", np.zeros(0)), dtype=np.float32),
        )
    head = SoftmaxHead(
        classes=tuple(str(label) for label in rest.pop("classes")),
        weights=np.asarray(rest.pop(weights), dtype=np.float32),
        bias=np.asarray(rest.pop("bias"), dtype=np.float32),
        temperature=float(rest.pop("temperature")),
        hidden=hidden,
    )
    classes = len(head.classes)
    if head.weights.ndim != 2 or head.weights.shape[1] != classes or head.bias.shape != (classes,):
        raise RuntimeError(
            f"{name}: weights {head.weights.shape} and bias {head.bias.shape} "
            f"do not fit {classes} classes"
        )
    if hidden is not None and (
        hidden[0].ndim != 2 or hidden[1].shape != (hidden[0].shape[1],)
        or hidden[0].shape[1] != head.weights.shape[0]
    ):  # fmt: skip
        raise RuntimeError(
            f"{name}: hidden layer {hidden[0].shape} + {hidden[1].shape} does not fit "
            f"weights {head.weights.shape}"
        )
    if not head.temperature > 0:
        raise RuntimeError(f"{name}: temperature {head.temperature} is not positive")
    return head, rest
