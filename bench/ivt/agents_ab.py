"""A/B cost of classifying a new User-Agent: this tree's `agents.py` against another's.

    nice -n 19 python bench/ivt/agents_ab.py --base /work/main/src/beacon/pixel/agents.py \
        [--external /tmp/external6.tsv] [--rounds 6] [--every 1]

Both modules are loaded side by side in one process (the other tree's file under another
module name, the vendored lists read from this tree's package data, which a rule change does
not touch) and time `AgentClassifier._classify`, the uncached path every new User-Agent takes,
over the same User-Agents: the bench corpora's real browsers (`run.browsers()`) and, with
`--external`, the labelled User-Agents of `bench/ivt/external.py` (`--every K` keeps every K-th,
for a shorter run on a loaded machine). The rounds alternate A-B,
B-A, ... and count process CPU time, so that a shared machine's load falls on both sides
alike. Prints the median and each round's microseconds per User-Agent, as JSON.

With `--labels` nothing is timed: every User-Agent (the corpora's browsers, the labelled bots
of the vendored lists, `--external` files) is classified by both sides, and those whose type or
reason differ are printed, then the count, as JSON (session 13: a rule that should change no
known User-Agent's label shows it does not).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # bench/ivt/run.py, for its browser corpora

from beacon.pixel import agents as branch


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("beacon.pixel._agents_base", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def _per_ua(module: ModuleType, uas: list[str]) -> float:
    classifier = module.AgentClassifier(module.AgentLists.vendored())
    started = time.process_time()
    for ua in uas:
        classifier._classify(ua)
    return (time.process_time() - started) / len(uas) * 1e6


def _labels(base: ModuleType, uas: list[str]) -> dict[str, object]:
    sides = [m.AgentClassifier(m.AgentLists.vendored()) for m in (base, branch)]
    changed = []
    for ua in uas:
        before, after = (side._classify(ua) for side in sides)
        if (before.type, before.reason) != (after.type, after.reason):
            changed.append({"ua": ua, "base": [before.type, before.reason],
                            "branch": [after.type, after.reason]})  # fmt: skip
    return {"user_agents": len(uas), "changed": len(changed), "rows": changed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="the other tree's agents.py")
    parser.add_argument("--external", type=Path, action="append", default=[])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--every", type=int, default=1, help="keep every K-th User-Agent")
    parser.add_argument("--labels", action="store_true", help="compare labels, not cost")
    args = parser.parse_args()
    uas = [ua for _, ua in run.browsers()]
    uas += [ua for *_, ua in run.read_external(args.external)] if args.external else []
    if args.labels:
        lists = branch.AgentLists.vendored()
        known = uas + [ua for *_, ua in run.labelled_bots(lists)]
        print(json.dumps(_labels(_load(args.base), list(dict.fromkeys(known))), indent=2))
        return 0
    uas = uas[:: args.every]
    sides = {"base": _load(args.base), "branch": branch}
    times: dict[str, list[float]] = {"base": [], "branch": []}
    for round_ in range(args.rounds):
        order = ("base", "branch") if round_ % 2 == 0 else ("branch", "base")
        for side in order:
            times[side].append(_per_ua(sides[side], uas))
    result = {
        "user_agents": len(uas),
        "median_us": {side: round(statistics.median(t), 1) for side, t in times.items()},
        "rounds_us": {side: [round(x, 1) for x in t] for side, t in times.items()},
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
