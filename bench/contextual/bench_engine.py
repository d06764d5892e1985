"""CPU time per page of the contextual engine (after fetch).

Usage: .venv/bin/python bench/contextual/bench_engine.py [--repeat N]

Measures process CPU time (time.process_time) so other load on the machine does not count:
- classify_html on the HTML fixtures in tests/contextual/pages (extraction + classification);
- classify_html on every evaluation document wrapped in a page with 60 navigation links and
  a footer, so extraction has boilerplate to remove;
- classify_text on every evaluation document (classification alone);
- with ``--languages``: classify_html on Spanish, French, German, Italian and Portuguese
  pages (eight consecutive SIB-200 test sentences each, and MasakhaNEWS French test
  articles, from build/contextual/topics.jsonl), per language.
The first call, which loads the lexicon, gazetteers and VADER, is reported separately.
"""

from __future__ import annotations

import argparse
import html
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from beacon.contextual.engine import classify_html, classify_text

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "tests" / "contextual" / "pages"
EVAL_DIR = Path(__file__).parent / "eval"
NAV = "".join(
    f'<li><a href="/section/{i}">Section {i} headlines and more</a></li>' for i in range(60)
)


def as_page(doc: dict[str, str], lang: str = "en") -> str:
    """Wrap an evaluation document in a realistic page skeleton."""
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in doc["text"].split("\n") if p.strip())
    title = html.escape(doc.get("title", ""))
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body><header><nav><ul>{NAV}</ul></nav></header><main><article><h1>{title}</h1>"
        f"{paragraphs}</article></main><footer><ul>{NAV}</ul><p>Copyright</p></footer></body></html>"
    )


def long_docs(docs: list[dict[str, str]], per_page: int = 8) -> list[dict[str, str]]:
    """Long articles: consecutive evaluation documents joined eight at a time."""
    return [
        {"title": group[0].get("title", ""), "text": "\n".join(d["text"] for d in group)}
        for group in (docs[i : i + per_page] for i in range(0, len(docs) - per_page + 1, per_page))
    ]


def other_language_pages(topics: Path) -> dict[str, list[dict[str, str]]]:
    """es/fr/de/it/pt test pages: SIB-200 sentences eight at a time, MasakhaNEWS fr articles."""
    records = [json.loads(line) for line in topics.read_text(encoding="utf-8").splitlines()]
    pages: dict[str, list[dict[str, str]]] = {}
    for code in ("es", "fr", "de", "it", "pt"):
        sentences = [
            r for r in records
            if r["source"] == "sib200" and r["language"] == code and r["split"] == "test"
        ]  # fmt: skip
        pages[f"sib200 {code}"] = long_docs(sentences)
    pages["masakhanews fr"] = [
        r for r in records if r["source"] == "masakhanews" and "-test-" in r["id"]
    ]
    return pages


def cpu_ms(call: Callable[[], object], repeat: int) -> float:
    """Median CPU milliseconds of `repeat` calls."""
    samples = []
    for _ in range(repeat):
        start = time.process_time()
        call()
        samples.append((time.process_time() - start) * 1000)
    return statistics.median(samples)


def summary(name: str, samples: list[float]) -> str:
    """One result line: count, median, p95, max."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"{name:<34} n={len(ordered):<4} median {statistics.median(ordered):6.1f} ms  "
        f"p95 {p95:6.1f} ms  max {ordered[-1]:6.1f} ms"
    )


def main() -> int:
    """Run the benchmark and print one line per scenario."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="calls per page (median is kept)")
    parser.add_argument(
        "--languages", type=Path, metavar="TOPICS_JSONL",
        help="also es/fr/de/it/pt pages from this train_data.py build",
    )  # fmt: skip
    args = parser.parse_args()
    fixtures = [p.read_text(encoding="utf-8") for p in sorted(PAGES.glob("*.html"))]
    docs = [
        json.loads(line)
        for path in sorted(EVAL_DIR.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    start = time.process_time()
    classify_html(html=fixtures[0], url="https://example.com/")
    print(f"first call (loads data)            {(time.process_time() - start) * 1000:.0f} ms")
    results = {
        "classify_html, fixture pages": [
            cpu_ms(
                lambda page=page: classify_html(html=page, url="https://example.com/"), args.repeat
            )
            for page in fixtures
        ],
        "classify_html, eval docs as pages": [
            cpu_ms(
                lambda page=as_page(d): classify_html(html=page, url="https://example.com/"),
                args.repeat,
            )
            for d in docs
        ],
        "classify_html, ~1,500-word pages": [
            cpu_ms(
                lambda page=as_page(d): classify_html(html=page, url="https://example.com/"),
                args.repeat,
            )
            for d in long_docs(docs)
        ],
        "classify_text, eval docs": [
            cpu_ms(lambda d=d: classify_text(text=d["text"], title=d.get("title", "")), args.repeat)
            for d in docs
        ],
    }
    for name, pages in (other_language_pages(args.languages) if args.languages else {}).items():
        language = name.split()[-1]
        results[f"classify_html, {name} pages"] = [
            cpu_ms(
                lambda page=as_page(d, language): classify_html(
                    html=page, url="https://example.com/"
                ),
                args.repeat,
            )
            for d in pages
        ]
    for name, samples in results.items():
        if samples:
            print(summary(name, samples))
    if docs:
        words = [len(d["text"].split()) for d in docs]
        print(
            f"eval documents: {len(docs)}, words median {statistics.median(words):.0f}, max {max(words)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
