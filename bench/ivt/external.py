"""Labelled User-Agents from projects Beacon neither vendors nor tuned on, as one TSV.

    python bench/ivt/external.py --ua-parser-js TREE --woothee TREE --browscap TREE \
        --crawler-detect-tests TREE --uap-core-tests TREE [--whichbrowser TREE] > /tmp/external.tsv
    python bench/ivt/run.py --external /tmp/external.tsv --no-cost
    python bench/ivt/external.py --intoli DIR --winfuture GITDIR --microlink GITDIR \
        > /tmp/real-traffic.tsv

Each argument is a work tree (`git clone --depth 1 https://github.com/<owner>/<name>`):
faisalman/ua-parser-js (test/data: crawler, fetcher, cli and library fixtures are bots, the
names its `isAICrawler`/`isAIAssistant` lists hold are AI agents; browser fixtures are
browsers; AGPL-3.0, so read here and never copied into the repository), woothee/woothee
(testsets: `crawler` is a bot, pc, smartphone, mobilephone and appliance are browsers;
Apache-2.0), browscap/browscap (tests/issues: `Crawler` or a `Bot` type is a bot, a `Browser`
neither fake nor a crawler is a browser; MIT), JayBizzle/Crawler-Detect's test crawlers
(MIT) and uap-core's device tests whose family is `Spider` (Apache-2.0). The last two come from
the projects whose patterns Beacon vendors, so they are in-sample for those patterns.
WhichBrowser/Parser-PHP's tests (MIT; bots by its device type, browsers by its browser type)
were added in session 11 and first scored then, blind.

Real traffic (session 13), browsers only, from projects that publish the User-Agents their
own sites saw: `--intoli DIR` reads a folder of the `user-agents` npm package's releases
(`npm pack user-agents@VERSION`; each daily release ships that day's snapshot of
intoli/user-agents, BSD-2-Clause; the repository's history is too large to fetch here), the
union of their visitor profiles, product `deviceCategory/platform` (records without a
`deviceCategory`, the 0.0.x market-share table, are not visitor profiles and are skipped);
`--winfuture GITDIR` (the git directory of a full clone, `clone/.git`) the union of `user-agents.json` over every commit of
WinFuture23/real-world-user-agents (CC0-1.0; organic visitors of winfuture.de seen from 5+
residential IPs), product `device_type/browser`; `--microlink GITDIR` the union of the top-100
list over every commit of microlinkhq/top-user-agents (MIT; the requests to microlink.io's
API, a weaker label: its clients are programs that send a browser's User-Agent). Intoli
(from 1.1.x) and microlink drop what isbot calls a bot before publishing; nothing more is
removed here.

Output lines: label (`ai`, `bot` or `browser`), source, product, User-Agent, tab-separated.
Nothing is read at run time by Beacon; this feeds the benchmark only.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

Row = tuple[str, str, str, str]

_ENUM_BLOCK = re.compile(r"^\s{8}(Crawler|Fetcher): \{(.*?)^\s{8}\}", re.S | re.M)
_ENUM_ITEM = re.compile(r"(\w+): '([^']*)'")
_AI_LIST = re.compile(r"new BotList\((?:Crawlers|Fetchers), 'name', \[(.*?)\]\)", re.S)
_AI_ITEM = re.compile(r"(Crawler|Fetcher)\.(\w+)")
_PHP_CASE = re.compile(r"'ua' => '((?:[^'\\]|\\.)*)',\s*'properties' => \[(.*?)\n\s{8}\],", re.S)
_PHP_PROP = re.compile(r"'(\w+)' => ('(?:[^'\\]|\\.)*'|true|false|null|-?\d+)")
_WOOTHEE_BROWSERS = {"pc", "smartphone", "mobilephone", "appliance"}


def _php_string(text: str) -> str:
    return re.sub(r"\\(['\\])", r"\1", text)


def ua_parser_js(tree: Path) -> Iterator[Row]:
    """ua-parser-js's extension and browser fixtures."""
    enums = (tree / "src/enums/ua-parser-enums.js").read_text("utf-8")
    names = {
        (kind, key): value
        for kind, body in _ENUM_BLOCK.findall(enums)
        for key, value in _ENUM_ITEM.findall(body)
    }
    detection = (tree / "src/bot-detection/bot-detection.js").read_text("utf-8")
    ai = {
        names[(kind, key)].lower()
        for block in _AI_LIST.findall(detection)
        for kind, key in _AI_ITEM.findall(block)
        if (kind, key) in names
    }
    data = tree / "test/data/ua"
    for kind in ("crawler", "fetcher", "cli", "library"):
        for case in json.loads((data / f"extension/{kind}.json").read_text("utf-8")):
            name = str(case["expect"].get("name") or case["desc"])
            label = "ai" if name.lower() in ai else "bot"
            yield label, f"ua-parser-js:{kind}", name, case["ua"]
    for path in (data / "browser/browser-all.json", data / "extension/inapp.json"):
        for case in json.loads(path.read_text("utf-8")):
            yield "browser", "ua-parser-js:browser", str(case["expect"].get("name")), case["ua"]


def woothee(tree: Path) -> Iterator[Row]:
    """woothee's testsets."""
    import yaml  # the benchmark's environment has PyYAML; Beacon never reads YAML

    for path in sorted((tree / "testsets").glob("*.yaml")):
        for case in yaml.safe_load(path.read_text("utf-8")) or []:
            category, ua = case.get("category"), case.get("target")
            if not ua:
                continue
            if category == "crawler":
                yield "bot", "woothee", str(case.get("name")), ua
            elif category in _WOOTHEE_BROWSERS:
                yield "browser", "woothee", str(case.get("name")), ua


def _has_logged_note(ua: str) -> bool:
    """Whether a `|` outside every comment joins a note to the User-Agent
    (`... Safari/530.17|Android 2.1-update1 E10i`, `Safari/537.36; | 2016-04-07 14:37:04`):
    a line of a log or of a form where the header was pasted with a note, not a header any
    browser sends (bots keep theirs: `... Platform | Eyeota` is Eyeotabot's own). A `|` inside a comment is an app's own separator
    (`AlipayDefined(nt:WIFI,ws:360|0|2.0)`) and stays."""
    depth = 0
    for char in ua:
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        elif char == "|" and depth == 0:
            return True
    return False


def browscap(tree: Path) -> Iterator[Row]:
    """browscap's issue tests (the full-property variant of each User-Agent)."""
    for path in sorted((tree / "tests/issues").glob("*.php")):
        for raw_ua, body in _PHP_CASE.findall(path.read_text("utf-8")):
            props = {k: v.strip("'") for k, v in _PHP_PROP.findall(body)}
            if "Browser_Type" not in props:
                continue  # a lite variant: no type to label it by
            ua, product = _php_string(raw_ua), _php_string(props.get("Browser", ""))
            kind = props["Browser_Type"]
            if props.get("Crawler") == "true" or kind in ("Bot", "Bot/Crawler"):
                yield "bot", "browscap", product, ua
            elif kind == "Browser" and props.get("isFake") == "false" and not _has_logged_note(ua):
                yield "browser", "browscap", product, ua


def crawler_detect_tests(tree: Path) -> Iterator[Row]:
    """Crawler-Detect's test crawlers (its devices file is not read: too large a blob here)."""
    text = (tree / "tests/data/user_agent/crawlers.txt").read_text("utf-8")
    for line in text.splitlines():
        if line.strip():
            yield "bot", "crawler-detect-tests", line.split("/")[0].split(" ")[0], line


def uap_core_tests(tree: Path) -> Iterator[Row]:
    """uap-core's device tests whose family is Spider."""
    import yaml

    cases = yaml.safe_load((tree / "tests/test_device.yaml").read_text("utf-8"))["test_cases"]
    for case in cases:
        if case.get("family") == "Spider":
            yield (
                "bot",
                "uap-core-tests",
                str(case.get("brand") or "Spider"),
                case["user_agent_string"],
            )


def whichbrowser(tree: Path) -> Iterator[Row]:
    """WhichBrowser/Parser-PHP's tests (MIT): a result whose device type is `bot` is a bot, one
    whose browser type is `browser` is a browser, unless WhichBrowser calls it a camouflage
    (a User-Agent imitating a browser) or its case turns bot detection off (a bot's string
    kept to test browser parsing). Only the User-Agent header of each case is read."""
    import yaml

    for path in sorted((tree / "tests/data").rglob("*.yaml")):
        for case in yaml.safe_load(path.read_text("utf-8")) or []:
            ua = _user_agent(case.get("headers"))
            result = case.get("result") or {}
            if not ua or case.get("detectBots") is False or result.get("camouflage"):
                continue
            device, browser = result.get("device") or {}, result.get("browser") or {}
            name = str(browser.get("name") or device.get("model") or path.stem)
            if device.get("type") == "bot":
                yield "bot", "whichbrowser", name, ua
            elif browser.get("type") == "browser":
                yield "browser", "whichbrowser", name, ua


def _user_agent(headers: object) -> str:
    """The User-Agent of a WhichBrowser case: its `headers` is "User-Agent: ..." or a mapping."""
    if isinstance(headers, str):
        name, _, value = headers.partition(":")
        return value.strip() if name.strip().lower() == "user-agent" else ""
    if isinstance(headers, dict):
        return str(next((v for k, v in headers.items() if k.lower() == "user-agent"), ""))
    return ""


def intoli(folder: Path) -> Iterator[Row]:
    """intoli/user-agents' daily snapshots, as released in the `user-agents` npm package."""
    for path in sorted(folder.glob("*.tgz")):
        for record in _intoli_records(path):
            if record.get("deviceCategory") and record.get("userAgent"):
                product = f"{record['deviceCategory']}/{record.get('platform') or ''}"
                yield "browser", "intoli", product, str(record["userAgent"])


def _intoli_records(path: Path) -> list[dict[str, object]]:
    """The records of one release tarball's `user-agents.json[.gz]` (src/ or dist/)."""
    with tarfile.open(path) as archive:
        for member in archive.getmembers():
            name = member.name.rsplit("/", 1)[-1]
            if name in ("user-agents.json", "user-agents.json.gz"):
                data = archive.extractfile(member)
                raw = data.read() if data else b"[]"
                records = json.loads(gzip.decompress(raw) if name.endswith(".gz") else raw)
                return [r for r in records if isinstance(r, dict)]
    return []


def _git_versions(gitdir: Path, *paths: str) -> Iterator[bytes]:
    """Every committed version of the given paths (a bare or a work tree's git directory)."""
    log = ["git", f"--git-dir={gitdir}", "log", "--format=%H", "--", *paths]
    for commit in subprocess.run(log, check=True, capture_output=True, text=True).stdout.split():
        for path in paths:
            show = ["git", f"--git-dir={gitdir}", "show", f"{commit}:{path}"]
            done = subprocess.run(show, capture_output=True)
            if done.returncode == 0:
                yield done.stdout


def winfuture(gitdir: Path) -> Iterator[Row]:
    """WinFuture23/real-world-user-agents' `user-agents.json`, every commit."""
    for blob in _git_versions(gitdir, "user-agents.json"):
        for entry in json.loads(blob).get("user_agents") or []:
            browser = (entry.get("browser") or {}).get("name") or ""
            yield "browser", "winfuture", f"{entry.get('device_type')}/{browser}", entry["ua"]


def microlink(gitdir: Path) -> Iterator[Row]:
    """microlinkhq/top-user-agents' top 100 (`index.json`, then `src/index.json`), every commit."""
    for blob in _git_versions(gitdir, "index.json", "src/index.json"):
        for ua in json.loads(blob):
            yield "browser", "microlink", "top100", str(ua)


SOURCES = {
    "ua_parser_js": ua_parser_js,
    "woothee": woothee,
    "browscap": browscap,
    "crawler_detect_tests": crawler_detect_tests,
    "uap_core_tests": uap_core_tests,
    "whichbrowser": whichbrowser,
    "intoli": intoli,
    "winfuture": winfuture,
    "microlink": microlink,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name in SOURCES:
        metavar = {"intoli": "DIR", "winfuture": "GITDIR", "microlink": "GITDIR"}.get(name, "TREE")
        parser.add_argument(f"--{name.replace('_', '-')}", type=Path, metavar=metavar)
    args = parser.parse_args()
    seen: set[str] = set()
    for name, read in SOURCES.items():
        tree = getattr(args, name)
        if tree is None:
            continue
        for label, source, product, ua in read(tree):
            ua = ua.replace("\t", " ").replace("\n", " ").strip()
            if ua and ua not in seen:
                seen.add(ua)
                sys.stdout.write(f"{label}\t{source}\t{product}\t{ua}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
