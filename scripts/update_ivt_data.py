#!/usr/bin/env python3
"""Refresh the vendored invalid-traffic data (run at release, never at run time).

Beacon classifies invalid traffic from lists it ships inside the package
(`src/beacon/pixel/data/`); nothing is downloaded while the server runs. At release, clone the
upstream repositories and run this script with their work trees:

    git clone --depth 1 https://github.com/ai-robots-txt/ai.robots.txt /tmp/ai.robots.txt
    git clone --depth 1 https://github.com/monperrus/crawler-user-agents /tmp/cua
    git clone --depth 1 https://github.com/JayBizzle/Crawler-Detect /tmp/crawler-detect
    git clone --depth 1 https://github.com/lord-alfred/ipranges /tmp/ipranges
    git clone --depth 1 https://github.com/matomo-org/device-detector /tmp/device-detector
    git clone --depth 1 https://github.com/arcjet/well-known-bots /tmp/well-known-bots
    git clone --depth 1 https://github.com/omrilotan/isbot /tmp/isbot
    git clone --depth 1 https://github.com/ua-parser/uap-core /tmp/uap-core
    git clone --depth 1 https://github.com/mitchellkrogza/nginx-ultimate-bad-bot-blocker /tmp/nubbb
    git clone --depth 1 https://github.com/ipanalytics/AI-Crawler-Blocklist /tmp/ai-blocklist
    git clone --depth 1 https://github.com/LucasFerrazSEO/ai-bots-list /tmp/ai-bots-list
    python scripts/update_ivt_data.py --ai-robots /tmp/ai.robots.txt \
        --crawler-user-agents /tmp/cua --crawler-detect /tmp/crawler-detect \
        --ipranges /tmp/ipranges --device-detector /tmp/device-detector \
        --well-known-bots /tmp/well-known-bots --isbot /tmp/isbot --uap-core /tmp/uap-core \
        --bad-bot-blocker /tmp/nubbb --ai-crawler-blocklist /tmp/ai-blocklist \
        --ai-bots-list /tmp/ai-bots-list

(`--device-detector` and `--uap-core` read YAML, so it needs PyYAML in the Python that runs the script; the
server never does: the script writes JSON.)

Precedence when the lists disagree (agents.py applies it; the first match decides): an AI
label from any list wins (ai.robots.txt, Beacon's own `ai-products/ai-products.json`, the
AI categories of device-detector and well-known-bots, crawler-user-agents' `ai-crawler` tag,
then the AI tokens of ipanalytics/AI-Crawler-Blocklist and LucasFerrazSEO/ai-bots-list, which
only add tokens the first two lack),
then the operator's `BEACON_EXTRA_BOT_PATTERNS`, then automation markers, then every other
pattern of crawler-user-agents, well-known-bots, device-detector, Crawler-Detect, uap-core's
"Spider" devices, the nginx bad-bot blocker's user agents (whole words) and isbot's patterns
in that order (all `known_crawler`, so their order only picks the name reported). A pattern listed
by several sources is kept once: the sources are deduplicated on the exact pattern text
when the classifier is built, and here each list is deduplicated within itself.

Each source is optional: only the lists given are replaced. Each directory gets the upstream
LICENSE next to the data and a SOURCE file naming the commit it was taken from; the pattern
lists are checked to compile before anything is written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import re
import shutil
import subprocess
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "src" / "beacon" / "pixel" / "data"

# lord-alfred/ipranges folders vendored as data-center ranges. Left out on purpose: consumer
# relays and VPNs people browse through (apple-proxy, cloudflare, protonvpn) and the
# infrastructure of messaging and social apps (telegram, twitter, facebook), whose previews
# the User-Agent rules already catch.
DATACENTER_PROVIDERS = (
    "amazon",
    "google",
    "microsoft",
    "oracle",
    "digitalocean",
    "linode",
    "vultr",
    "googlebot",
    "bing",
    "openai",
    "perplexity",
    "duckduckbot",
    "duckassistbot",
    "pingdom",
    "statuscake",
)
# Folders vendored under another provider name. DuckDuckGo publishes the same addresses for
# DuckDuckBot (its search crawler) and DuckAssistBot (its AI answers' fetcher): one provider,
# since an address cannot tell the two apart. Which providers are AI operators (a browser-looking
# hit from them is `ai_agent`, not `datacenter`) is said once, in beacon.pixel.datacenter.
PROVIDER_NAMES = {"duckduckbot": "duckduckgo", "duckassistbot": "duckduckgo"}


def _commit(repo: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "log", "-1", "--format=%H %cs"],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"


def _stamp(target: Path, repo: Path, name: str) -> None:
    shutil.copyfile(repo / "LICENSE", target / "LICENSE")
    (target / "SOURCE").write_text(
        f"{name} at {_commit(repo)}, vendored {dt.date.today().isoformat()}"
        " by scripts/update_ivt_data.py\n",
        "utf-8",
    )


def update_ai_robots(repo: Path) -> None:
    target = DATA / "ai-agents"
    data = json.loads((repo / "robots.json").read_text("utf-8"))
    if not isinstance(data, dict) or not data:
        raise SystemExit("ai.robots.txt: robots.json is not a non-empty object")
    shutil.copyfile(repo / "robots.json", target / "robots.json")
    _stamp(target, repo, "ai-robots-txt/ai.robots.txt")
    print(f"ai-agents: {len(data)} agents")


def update_crawler_user_agents(repo: Path) -> None:
    target = DATA / "crawler-user-agents"
    target.mkdir(exist_ok=True)
    entries = json.loads((repo / "crawler-user-agents.json").read_text("utf-8"))
    for entry in entries:
        re.compile(entry["pattern"])
    shutil.copyfile(repo / "crawler-user-agents.json", target / "crawler-user-agents.json")
    _stamp(target, repo, "monperrus/crawler-user-agents")
    print(f"crawler-user-agents: {len(entries)} patterns")


def update_crawler_detect(repo: Path) -> None:
    target = DATA / "crawler-detect"
    target.mkdir(exist_ok=True)
    for name in ("Crawlers.txt", "Exclusions.txt"):
        lines = (repo / "raw" / name).read_text("utf-8").splitlines()
        re.compile("|".join(line for line in lines if line))
        shutil.copyfile(repo / "raw" / name, target / name)
    _stamp(target, repo, "JayBizzle/Crawler-Detect")
    print("crawler-detect: Crawlers.txt, Exclusions.txt")


def update_ipranges(repo: Path) -> None:
    target = DATA / "datacenter"
    target.mkdir(exist_ok=True)
    lines = []
    for folder in DATACENTER_PROVIDERS:
        provider = PROVIDER_NAMES.get(folder, folder)
        for family in ("ipv4", "ipv6"):
            path = repo / folder / f"{family}_merged.txt"
            if not path.exists():
                continue
            for raw in path.read_text("utf-8").split():
                network = ipaddress.ip_network(raw, strict=False)
                # A list that carries a reserved network (Vultr's held the documentation
                # networks 192.0.2.0/24 and 2001:db8::/32) names no provider's address:
                # beacon.pixel.datacenter drops them as well, on load.
                if network.is_global:
                    lines.append(f"{provider}\t{network}")
    lines = list(dict.fromkeys(lines))  # a provider's network listed by two of its folders
    (target / "ranges.tsv").write_text("\n".join(lines) + "\n", "utf-8")
    _stamp(target, repo, "lord-alfred/ipranges")
    print(f"datacenter: {len(lines)} networks of {len(DATACENTER_PROVIDERS)} providers")


# device-detector categories whose bots work for an AI product (labelled `ai_agent`).
DEVICE_DETECTOR_AI_CATEGORIES = ("AI Data Scraper", "AI Assistant", "AI Search Crawler", "AI Agent")
_LOOKBEHIND = re.compile(r"\(\?<([!=])([^()]*\|[^()]*)\)")


def python_regex(pattern: str) -> str:
    """A PCRE pattern as Python's `re` accepts it: `(?<!a|bc)` -> `(?<!a)(?<!bc)`.

    Python needs fixed-width look-behinds; an alternation of different widths is split into
    one look-behind per alternative (all must hold for `!`, any may hold for `=`).
    """

    def split(match: re.Match[str]) -> str:
        kind, body = match.group(1), match.group(2).split("|")
        if kind == "!":
            return "".join(f"(?<!{alt})" for alt in body)
        return "(?:" + "|".join(f"(?<={alt})" for alt in body) + ")"

    pattern = _LOOKBEHIND.sub(split, pattern)
    # JavaScript reads `[\w-.]` as a literal `-`; Python as a bad range: move it last.
    return _CLASS_DASH.sub(lambda m: m.group(1) + m.group(2) + "-]", pattern)


_CLASS_DASH = re.compile(r"(\[(?:\\[a-zA-Z])+)-([^\]\\]*)\]")


def update_device_detector(repo: Path) -> None:
    import yaml  # release-time only: the server reads the JSON written here

    target = DATA / "device-detector"
    target.mkdir(exist_ok=True)
    raw = yaml.safe_load((repo / "regexes" / "bots.yml").read_text("utf-8"))
    entries: list[dict[str, str]] = []
    seen: set[str] = set()
    skipped = 0
    for item in raw:
        pattern = python_regex(str(item["regex"]))
        try:
            re.compile(pattern, re.IGNORECASE)
        except re.error:
            skipped += 1  # a PCRE construct Python lacks; reported below
            continue
        if pattern in seen:
            continue
        seen.add(pattern)
        category = str(item.get("category") or "")
        entries.append(
            {
                "pattern": pattern,
                "name": str(item.get("name") or ""),
                "category": category,
                "ai": category in DEVICE_DETECTOR_AI_CATEGORIES,
            }
        )
    (target / "bots.json").write_text(json.dumps(entries, indent=1) + "\n", "utf-8")
    _stamp(target, repo, "matomo-org/device-detector (regexes/bots.yml)")
    print(f"device-detector: {len(entries)} patterns ({skipped} not expressible in Python re)")


def update_well_known_bots(repo: Path) -> None:
    target = DATA / "well-known-bots"
    target.mkdir(exist_ok=True)
    raw = json.loads((repo / "well-known-bots.json").read_text("utf-8"))
    entries = []
    for item in raw:
        patterns = list(dict.fromkeys(item["pattern"]["accepted"]))
        for pattern in patterns:
            re.compile(pattern)
        entries.append(
            {
                "id": item["id"],
                "categories": item.get("categories") or [],
                "patterns": patterns,
                "instances": (item.get("instances") or {}).get("accepted") or [],
            }
        )
    (target / "well-known-bots.json").write_text(json.dumps(entries, indent=1) + "\n", "utf-8")
    _stamp(target, repo, "arcjet/well-known-bots")
    print(f"well-known-bots: {len(entries)} bots")


BENCH_DATA = Path(__file__).resolve().parent.parent / "bench" / "ivt" / "data"
TEST_SAMPLE = (
    Path(__file__).resolve().parent.parent / "tests" / "pixel" / "data" / "browser_sample.tsv"
)


def _browser_corpus() -> list[str]:
    """Real-browser User-Agents of bench/ivt (as the classifier's lists see them)."""
    import gzip

    from beacon.pixel.agents import _list_view  # the classifier's own view of a User-Agent

    rows: list[str] = []
    for name in ("browsers.tsv", "isbot-browsers.tsv"):
        rows += (BENCH_DATA / name).read_text("utf-8").splitlines()
    with gzip.open(BENCH_DATA / "device-detector-browsers.tsv.gz", "rt", encoding="utf-8") as fh:
        rows += fh.read().splitlines()
    uas = [row.split("\t", 1)[1] for row in rows if "\t" in row]
    # the tests' own sample (source, category, User-Agent): in-app browsers and webviews
    for line in TEST_SAMPLE.read_text("utf-8").splitlines():
        if line and not line.startswith("#"):
            uas.append(line.split("\t", 2)[2])
    return [_list_view(ua) for ua in uas]


def browser_safe(name: str, patterns: list[str], *, whole_words: bool = False) -> list[str]:
    """The patterns that match no real-browser User-Agent of the bench corpora.

    The generic lists added last (isbot, uap-core's spiders, the nginx bad-bot blocker) were
    written for their own browser sets or to block on purpose (WeChat, QQ Browser): a
    pattern of theirs that flags a real browser is left out, and printed, at vendoring.
    """
    from beacon.pixel.agents import _split_alternatives

    corpus = _browser_corpus()
    kept: list[str] = []
    for pattern in patterns:
        dropped = []
        for alternative in _split_alternatives([pattern]):
            regex = (
                rf"(?<![A-Za-z0-9])(?:{alternative})(?![A-Za-z0-9])" if whole_words else alternative
            )
            compiled = re.compile(regex, re.IGNORECASE)
            if any(compiled.search(ua) for ua in corpus):
                dropped.append(alternative)
        if not dropped:
            kept.append(pattern)
            continue
        alternatives = _split_alternatives([pattern])
        left = [a for a in alternatives if a not in dropped]
        print(f"{name}: left out {dropped} (matches real browsers)")
        if left and len(alternatives) > 1:
            kept.append("|".join(left))
    return kept


def update_isbot(repo: Path) -> None:
    """omrilotan/isbot's pattern list (Unlicense): generic and specific bot patterns."""
    target = DATA / "isbot"
    target.mkdir(exist_ok=True)
    raw = json.loads((repo / "src" / "patterns.json").read_text("utf-8"))
    patterns: list[str] = []
    for item in raw:
        pattern = python_regex(str(item))
        try:
            re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            print(f"isbot: skipped {item!r}: {exc}")
            continue
        patterns.append(pattern)
    patterns = browser_safe("isbot", list(dict.fromkeys(patterns)))
    (target / "patterns.json").write_text(json.dumps(patterns, indent=1) + "\n", "utf-8")
    _stamp(target, repo, "omrilotan/isbot (src/patterns.json)")
    print(f"isbot: {len(patterns)} patterns")


_UAP_PREFIX = re.compile(r"^\^\.\{0,\d+\}\??")


def update_uap_core(repo: Path) -> None:
    """ua-parser/uap-core's device parsers of the "Spider" device (Apache-2.0)."""
    import yaml  # release-time only

    target = DATA / "uap-core"
    target.mkdir(exist_ok=True)
    raw = yaml.safe_load((repo / "regexes.yaml").read_text("utf-8"))
    entries = []
    for item in raw["device_parsers"]:
        if item.get("device_replacement") != "Spider":
            continue
        # "^.{0,100}(bot|crawl|...)": `search` makes the bounded lead redundant; without it
        # the alternatives split into plain words for the classifier's trie.
        pattern = _UAP_PREFIX.sub("", str(item["regex"]))
        re.compile(pattern, re.IGNORECASE)
        for safe in browser_safe("uap-core", [pattern]):
            entries.append({"pattern": safe, "model": item.get("model_replacement") or ""})
    (target / "spiders.json").write_text(json.dumps(entries, indent=1) + "\n", "utf-8")
    _stamp(target, repo, "ua-parser/uap-core (regexes.yaml, device Spider)")
    print(f"uap-core: {len(entries)} spider patterns")


def update_bad_bot_blocker(repo: Path) -> None:
    """mitchellkrogza/nginx-ultimate-bad-bot-blocker's bad user agents (MIT), whole words."""
    target = DATA / "bad-bot-blocker"
    target.mkdir(exist_ok=True)
    source = repo / "_generator_lists" / "bad-user-agents.list"
    lines = [line.strip() for line in source.read_text("utf-8").splitlines() if line.strip()]
    for line in lines:
        re.compile(line)
    lines = browser_safe("bad-bot-blocker", lines, whole_words=True)
    (target / "bad-user-agents.list").write_text("\n".join(lines) + "\n", "utf-8")
    shutil.copyfile(repo / "LICENSE.md", target / "LICENSE.md")
    (target / "SOURCE").write_text(
        f"mitchellkrogza/nginx-ultimate-bad-bot-blocker (_generator_lists/bad-user-agents.list) "
        f"at {_commit(repo)}, vendored {dt.date.today().isoformat()}"
        " by scripts/update_ivt_data.py\n",
        "utf-8",
    )
    print(f"bad-bot-blocker: {len(lines)} user agents")


# AI product tokens from the smaller AI lists, normalised to {token, operator, function}.
# Their search-engine entries ("Bingbot", "YandexBot", "Baiduspider": the index an assistant
# answers from) are left out where another vendored list calls the same crawler non-AI and
# ai.robots.txt does not name it: those stay `known_crawler`.
_AI_LIST_FUNCTIONS = {
    "training": "AI Data Scrapers",
    "ai-search": "AI Search Crawlers",
    "assistant-fetch": "AI Assistants",
    "treinamento": "AI Data Scrapers",
    "busca": "AI Search Crawlers",
}


def _non_ai_elsewhere(token: str) -> bool:
    """Whether a vendored list names ``token`` as a crawler outside its AI categories."""
    ai_robots = json.loads((DATA / "ai-agents" / "robots.json").read_text("utf-8"))
    if any(key.lower() == token.lower() for key in ai_robots):
        return False
    word = re.compile(rf"(?<![\w-]){re.escape(token)}(?![\w-])", re.IGNORECASE)
    cua = json.loads((DATA / "crawler-user-agents" / "crawler-user-agents.json").read_text())
    for entry in cua:
        if "ai-crawler" not in (entry.get("tags") or []) and any(
            word.search(ua) for ua in entry.get("instances") or []
        ):
            return True
    wkb = json.loads((DATA / "well-known-bots" / "well-known-bots.json").read_text("utf-8"))
    return any(
        "ai" not in bot["categories"] and any(word.search(ua) for ua in bot["instances"])
        for bot in wkb
    )


def _write_ai_tokens(target: Path, name: str, entries: list[dict[str, str]]) -> None:
    kept: list[dict[str, str]] = []
    seen: set[str] = set()
    safe = set(browser_safe(name, [re.escape(e["token"]) for e in entries], whole_words=True))
    for entry in entries:
        token = entry["token"]
        if token.lower() in seen:
            continue
        seen.add(token.lower())
        if re.escape(token) not in safe:
            continue
        if _non_ai_elsewhere(token):
            print(f"{name}: left out {token!r} (a non-AI crawler in another list)")
            continue
        kept.append(entry)
    (target / "agents.json").write_text(json.dumps(kept, indent=1) + "\n", "utf-8")
    print(f"{name}: {len(kept)} AI tokens")


def update_ai_crawler_blocklist(repo: Path) -> None:
    """ipanalytics/AI-Crawler-Blocklist's operator-published AI sources (MIT)."""
    target = DATA / "ai-crawler-blocklist"
    target.mkdir(exist_ok=True)
    sources = json.loads((repo / "config" / "sources.json").read_text("utf-8"))["sources"]
    entries = []
    for source in sources:
        # "ai-watch": search engines the list only watches (Baiduspider, PetalBot)
        if source.get("category") not in ("ai", "fetcher", "archive"):
            continue
        uses = source.get("aiUse") or []
        function = next((_AI_LIST_FUNCTIONS[u] for u in uses if u in _AI_LIST_FUNCTIONS), None)
        for token in source.get("userAgentPatterns") or []:
            entries.append(
                {
                    "token": token,
                    "operator": source.get("operator") or "",
                    "function": function or "AI Agents",
                }
            )
    _write_ai_tokens(target, "ai-crawler-blocklist", entries)
    _stamp(target, repo, "ipanalytics/AI-Crawler-Blocklist (config/sources.json)")


def update_ai_bots_list(repo: Path) -> None:
    """LucasFerrazSEO/ai-bots-list's AI bots (data under CC BY 4.0, credit in README)."""
    target = DATA / "ai-bots-list"
    target.mkdir(exist_ok=True)
    raw = json.loads((repo / "ai_bots.json").read_text("utf-8"))
    entries = [
        {
            "token": bot["user_agent"],
            "operator": bot.get("provedor") or "",
            "function": _AI_LIST_FUNCTIONS.get(bot.get("categoria", ""), "AI Agents"),
        }
        for bot in raw["bots"]
    ]
    _write_ai_tokens(target, "ai-bots-list", entries)
    shutil.copyfile(repo / "DATA-LICENSE", target / "LICENSE")
    (target / "SOURCE").write_text(
        f"LucasFerrazSEO/ai-bots-list (ai_bots.json, by Lucas Ferraz, CC BY 4.0) at "
        f"{_commit(repo)}, vendored {dt.date.today().isoformat()} by scripts/update_ivt_data.py"
        " (normalised: token, operator, function; entries left out as printed)\n",
        "utf-8",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ai-robots", type=Path, help="work tree of ai-robots-txt/ai.robots.txt")
    parser.add_argument("--crawler-user-agents", type=Path, help="monperrus/crawler-user-agents")
    parser.add_argument("--crawler-detect", type=Path, help="work tree of JayBizzle/Crawler-Detect")
    parser.add_argument("--ipranges", type=Path, help="work tree of lord-alfred/ipranges")
    parser.add_argument("--device-detector", type=Path, help="matomo-org/device-detector")
    parser.add_argument("--well-known-bots", type=Path, help="work tree of arcjet/well-known-bots")
    parser.add_argument("--isbot", type=Path, help="work tree of omrilotan/isbot")
    parser.add_argument("--uap-core", type=Path, help="work tree of ua-parser/uap-core")
    parser.add_argument(
        "--bad-bot-blocker", type=Path, help="mitchellkrogza/nginx-ultimate-bad-bot-blocker"
    )
    parser.add_argument(
        "--ai-crawler-blocklist", type=Path, help="work tree of ipanalytics/AI-Crawler-Blocklist"
    )
    parser.add_argument(
        "--ai-bots-list", type=Path, help="work tree of LucasFerrazSEO/ai-bots-list"
    )
    args = parser.parse_args()
    if args.ai_robots:
        update_ai_robots(args.ai_robots)
    if args.crawler_user_agents:
        update_crawler_user_agents(args.crawler_user_agents)
    if args.crawler_detect:
        update_crawler_detect(args.crawler_detect)
    if args.ipranges:
        update_ipranges(args.ipranges)
    if args.device_detector:
        update_device_detector(args.device_detector)
    if args.well_known_bots:
        update_well_known_bots(args.well_known_bots)
    if args.isbot:
        update_isbot(args.isbot)
    if args.uap_core:
        update_uap_core(args.uap_core)
    if args.bad_bot_blocker:
        update_bad_bot_blocker(args.bad_bot_blocker)
    if args.ai_crawler_blocklist:
        update_ai_crawler_blocklist(args.ai_crawler_blocklist)
    if args.ai_bots_list:
        update_ai_bots_list(args.ai_bots_list)


if __name__ == "__main__":
    main()
