"""Calibrated category confidence (issue 16): the engine's raw score → P(tier-1 is right).

The lexicon engine scores a category with a heuristic (√ share of the evidence × a saturation
of its strength) that orders pages well but is not a probability. ``bench/contextual/
calibrate.py`` measures, on labelled pages, how often the top category's tier-1 is right at
each raw score, fits a monotone (isotonic) map, and writes it to ``data/calibration.json``:
knots ``[raw, calibrated]`` per language group, interpolated linearly here. Nothing is fitted
at run time. A reported confidence of 0.8 then means: on the evaluation pages, about 80% of
the categories reported with 0.8 had the right tier-1 (docs/understand.md#confidence).

The same map is applied to every category of a page (secondary ones too), so the order of the
list is kept. Below the abstain threshold (``BEACON_CLASSIFICATION_MIN_CONFIDENCE``; unset,
the ``abstain_below`` the script chose and wrote into the table) the engine returns no
category and the note ``low_confidence`` instead of a guess.
"""

from __future__ import annotations

import bisect
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

from beacon.contextual.categories import CategoryMatch

LOW_CONFIDENCE = "low_confidence"
# The language group whose map serves languages without one of their own.
DEFAULT_GROUP = "default"


@dataclass(frozen=True, slots=True)
class Curve:
    """A non-decreasing piecewise-linear map on [0, 1], flat outside its first and last knot."""

    xs: tuple[float, ...]
    ys: tuple[float, ...]

    def __call__(self, raw: float) -> float:
        xs, ys = self.xs, self.ys
        if raw <= xs[0]:
            return ys[0]
        if raw >= xs[-1]:
            return ys[-1]
        i = bisect.bisect_right(xs, raw)
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        return y0 + (y1 - y0) * (raw - x0) / (x1 - x0)


@dataclass(frozen=True, slots=True)
class Table:
    """The shipped calibration: a curve per language (the default group's for the others),
    and the documented threshold."""

    curves: dict[str, Curve]
    abstain_below: float

    def curve(self, language: str | None) -> Curve:
        """The curve fitted for ``language``'s group, else the default group's."""
        return self.curves.get(language or "", self.curves[DEFAULT_GROUP])


def parse(document: dict[str, Any]) -> Table:
    """A table from its JSON form; raises ValueError on a map that is not monotone."""
    curves = {}
    for group, body in document["groups"].items():
        knots = sorted((float(x), float(y)) for x, y in body["knots"])
        xs, ys = tuple(k[0] for k in knots), tuple(k[1] for k in knots)
        if len(set(xs)) != len(xs) or any(b < a for a, b in itertools.pairwise(ys)):
            raise ValueError(f"calibration map {group!r} is not a monotone function")
        curve = Curve(xs, ys)
        curves[group] = curve
        for language in body.get("languages", []):
            curves[language] = curve
    if DEFAULT_GROUP not in curves:
        raise ValueError(f"calibration has no {DEFAULT_GROUP!r} map")
    return Table(curves, float(document["abstain_below"]))


@cache
def table() -> Table:
    """The shipped table (loaded once per process)."""
    path = resources.files("beacon.contextual") / "data" / "calibration.json"
    return parse(json.loads(path.read_text("utf-8")))


def abstain_threshold(min_confidence: float | None = None) -> float:
    """The threshold below which a page's categories are withheld: ``min_confidence`` when the
    operator set one, else the shipped table's ``abstain_below`` (the one place it is stated)."""
    return table().abstain_below if min_confidence is None else min_confidence


def calibrate(matches: Sequence[CategoryMatch], *, language: str | None) -> list[CategoryMatch]:
    """``matches`` with each raw confidence replaced by its calibrated value, order kept."""
    curve = table().curve(language)
    return [replace(m, confidence=round(curve(m.confidence), 3)) for m in matches]
