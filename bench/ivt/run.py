"""Invalid-traffic evaluation (held-out User-Agents) and classification cost per hit.

    python bench/ivt/run.py [--write-docs] [--misses 10]

Evaluation. The crawler-user-agents list (vendored, MIT) is split by entry: one entry in five
(by the SHA-1 of its pattern, so the split is stable across refreshes) is held out, and a
classifier is built from the other four fifths plus ai.robots.txt and Crawler-Detect, as
shipped. The held-out entries' example User-Agents ("instances") are then classified: those
tagged `ai-crawler` must come out `ai_agent`, the others `bot` or `ai_agent`. As a second,
fully independent check, the `browsers.tsv` set (the distinct User-Agents of the
`user-agents` npm package, BSD-2-Clause, real browsers weighted by their traffic: phones,
tablets, desktops, plus smart-TV and console User-Agents) must come out `human` through the
full, shipped classifier. The in-sample rates (every instance, the full classifier) are shown
too, since they are what an operator gets for the crawlers the lists already name.

Cost. The same classifier the flusher uses (`InvalidTrafficDetector`) runs over a stream of
hits: a realistic mix (80% of hits from the 200 most common User-Agents, as the collector
benchmark's rotation, the rest from the whole set) and the worst case where every
User-Agent is new (no cache hit). Each figure is the median of 5 runs; time per hit includes
the data-center lookup and the activity rule.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import random
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from beacon.pixel.agents import AgentClassifier, AgentLists
from beacon.pixel.datacenter import vendored_ranges
from beacon.pixel.ivt import ActivityRule, HitContext, InvalidTrafficDetector

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "benchmarks.md"
BROWSERS = Path(__file__).resolve().parent / "data" / "browsers.tsv"
SECTION = "## Invalid traffic"
HOLD_OUT_ONE_IN = 5
NOTES = """
Reading the table: the in-sample column is what Beacon does for the crawlers the vendored
lists name (every AI product of crawler-user-agents and ai.robots.txt); the held-out column is
how it generalises to a crawler none of the crawler-user-agents entries describe. Other bots
generalise well (98.2%) because most declare themselves by form: a contact URL, the
`(compatible; Name` form, or no platform token. Held-out AI agents reach 85.7% (18 of 21), short
of the 99% goal: the three misses (`TSM-turingos`, `ImageMind`, `Novellum`) carry no sign of
being AI in their User-Agent, so only a list naming them can tell (`ImageMind` and `Novellum`
are still invalid, as `known_crawler`; `TSM-turingos` as well). The held-out sample of AI
agents is small (21 User-Agents), so one miss moves it by almost 5 points. The misflag rate on
real browsers is measured on 966 distinct User-Agents only, so 0 of 966 bounds it below 0.31%
at the 95% level (rule of three), not lower.
"""


def held_out(pattern: str) -> bool:
    """Whether a crawler-user-agents entry is in the held-out fifth."""
    return int(hashlib.sha1(pattern.encode()).hexdigest(), 16) % HOLD_OUT_ONE_IN == 0


def browsers() -> list[tuple[str, str]]:
    rows = (line.split("\t", 1) for line in BROWSERS.read_text("utf-8").splitlines() if line)
    return [(category, ua) for category, ua in rows]


def _rate(hits: int, total: int) -> str:
    return f"{hits / total:.2%} ({hits:,} / {total:,})" if total else "n/a"


def evaluate(misses: int) -> dict[str, Any]:
    lists = AgentLists.vendored()
    training = [e for e in lists.crawler_user_agents if not held_out(e["pattern"])]
    testing = [e for e in lists.crawler_user_agents if held_out(e["pattern"])]
    held = AgentClassifier(
        AgentLists(lists.ai_robots, training, lists.crawler_detect, lists.crawler_detect_exclusions)
    )
    full = AgentClassifier(lists)
    result: dict[str, Any] = {"missed": []}

    def score(classifier: AgentClassifier, entries: list[dict[str, Any]], key: str) -> None:
        ai = ai_ok = other = other_ok = 0
        products: set[str] = set()
        for entry in entries:
            is_ai = "ai-crawler" in (entry.get("tags") or [])
            for ua in entry.get("instances") or []:
                label = classifier.classify(ua).type
                ok = label == "ai_agent" if is_ai else label != "human"
                if is_ai:
                    ai, ai_ok = ai + 1, ai_ok + ok
                    products.add(entry["pattern"])
                else:
                    other, other_ok = other + 1, other_ok + ok
                if not ok and key == "held_out":
                    result["missed"].append((entry["pattern"], label, ua))
        result[key] = {
            "ai": (ai_ok, ai),
            "ai_products": len(products),
            "other": (other_ok, other),
        }

    score(held, testing, "held_out")
    score(full, lists.crawler_user_agents, "in_sample")
    flagged: list[tuple[str, str, str]] = []
    per_category: dict[str, list[int]] = {}
    for category, ua in browsers():
        info = full.classify(ua)
        counts = per_category.setdefault(category, [0, 0])
        counts[1] += 1
        if info.type != "human":
            counts[0] += 1
            flagged.append((category, str(info.reason), ua))
    result["browsers"] = per_category
    result["flagged"] = flagged
    result["missed"] = result["missed"][:misses]
    result["split"] = (len(training), len(testing))
    return result


def cost() -> dict[str, float]:
    lists = AgentLists.vendored()
    uas = [ua for _, ua in browsers()]
    uas += [ua for e in lists.crawler_user_agents for ua in e.get("instances") or []]
    rng = random.Random(17)
    common = rng.sample(uas, 200)
    mixed = [rng.choice(common) if rng.random() < 0.8 else rng.choice(uas) for _ in range(20_000)]
    ips = [ipaddress.ip_address(f"{rng.randrange(1, 223)}.{rng.randrange(256)}.0.1") for _ in mixed]
    vendored_ranges()  # loaded once per process, as in the flusher
    results: dict[str, float] = {}
    for name, stream in (("mixed", mixed), ("all_new", uas)):
        runs = []
        for _ in range(5):
            detector = InvalidTrafficDetector(
                agents=AgentClassifier(lists), activity=ActivityRule(max_per_minute=30)
            )
            if name == "mixed":  # warm: the flusher is a long-lived process
                for ua in common:
                    detector.agents.classify(ua)
            started = time.perf_counter()
            for i, ua in enumerate(stream):
                detector.classify(
                    ua, HitContext(1, 1_767_225_600.0 + i / 1000, ips[i % len(ips)], {})
                )
            runs.append((time.perf_counter() - started) / len(stream))
        results[name] = statistics.median(runs) * 1e6
    started = time.perf_counter()
    AgentClassifier(lists)
    results["build_ms"] = (time.perf_counter() - started) * 1e3
    started = time.perf_counter()
    ranges = vendored_ranges()
    probe = [
        ipaddress.ip_address(f"{rng.randrange(1, 223)}.{rng.randrange(256)}.7.9")
        for _ in range(50_000)
    ]
    started = time.perf_counter()
    for ip in probe:
        ranges.provider(ip)
    results["datacenter_us"] = (time.perf_counter() - started) / len(probe) * 1e6
    return results


def render(result: dict[str, Any], timings: dict[str, float]) -> str:
    held, full = result["held_out"], result["in_sample"]
    flagged_total = sum(c[0] for c in result["browsers"].values())
    browser_total = sum(c[1] for c in result["browsers"].values())
    lines = [
        SECTION,
        "",
        f"`python bench/ivt/run.py --write-docs`, {time.strftime('%Y-%m-%d')}. Held-out split: "
        f"{result['split'][1]} of {sum(result['split'])} crawler-user-agents entries (one in "
        f"{HOLD_OUT_ONE_IN} by the SHA-1 of the pattern) left out of the classifier; "
        "ai.robots.txt and Crawler-Detect as shipped.",
        "",
        "| check | held out | in sample | goal |",
        "|---|---|---|---|",
        f"| AI agents labelled `ai_agent` | {_rate(*held['ai'])}, {held['ai_products']} products "
        f"| {_rate(*full['ai'])} | ≥ 99% |",
        f"| other bots and tools labelled `bot` or `ai_agent` | {_rate(*held['other'])} "
        f"| {_rate(*full['other'])} | ≥ 97% |",
        f"| real browsers misflagged ({', '.join(f'{k} {v[1]}' for k, v in sorted(result['browsers'].items()))}) "
        f"| {_rate(flagged_total, browser_total)} | | ≤ 0.3% |",
        "",
        "Classification cost per hit (User-Agent lists, data-center lookup and activity rule, "
        "one CPU, median of 5 runs):",
        "",
        "| load | µs per hit |",
        "|---|---|",
        f"| realistic mix (80% of hits from 200 common User-Agents, cache warm) | {timings['mixed']:.1f} |",
        f"| every User-Agent new (no cache hit) | {timings['all_new']:.1f} |",
        f"| data-center lookup alone (bisect, IPv4) | {timings['datacenter_us']:.2f} |",
        "",
        f"Building the classifier (compiling the lists) takes {timings['build_ms']:.0f} ms, once "
        "per flusher process; the ranges table is built once too.",
    ]
    lines += ["", NOTES.strip()]
    if result["missed"]:
        lines += ["", "Held-out misses (pattern, label given, User-Agent):", ""]
        lines += [f"- `{p}` → {label}: `{ua[:110]}`" for p, label, ua in result["missed"]]
    if result["flagged"]:
        lines += ["", "Browsers flagged (category, reason, User-Agent):", ""]
        lines += [f"- {c}, {r}: `{ua[:110]}`" for c, r, ua in result["flagged"]]
    return "\n".join(lines) + "\n"


def write_docs(section: str) -> None:
    text = DOCS.read_text("utf-8")
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOCS.write_text(text, "utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--misses", type=int, default=15, help="held-out misses to list")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = evaluate(args.misses)
    timings = cost()
    if args.json:
        print(json.dumps({"evaluation": result, "cost": timings}, indent=2))
    section = render(result, timings)
    print(section)
    if args.write_docs:
        write_docs(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
