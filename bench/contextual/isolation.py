"""The hot path while the embedded worker classifies pages (``contextual/process.py``).

    python -m bench.contextual.isolation [--pages 243] [--server-src DIR]
        [--probe-interval 0.01] [--idle-seconds 5] [--json FILE]

(from the repository root, with the project's virtualenv). One `beacon serve` on a fresh
SQLite database, its worker in process (the default), a local web site of the project's 243
evaluation documents wrapped in a realistic page (`bench_engine.as_page`), and a probe that
sends one pixel hit every ``--probe-interval`` seconds on a keep-alive connection and times
each answer. The run first probes an idle server, then posts a classification batch of every
page (`POST /v1/clsfy/classify/batch`) and probes until the batch is complete: the
difference between the two is what classification costs the collector. ``--server-src``
runs another checkout's `src/` (e.g. the commit before the change) for a before/after on
the same machine: run the command once per checkout, alternating, and compare. RSS is the
server process's own, and with its children (flushers, the classifier process).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from bench.collector.load import pixel_paths
from bench.collector.run import Server, _campaign
from bench.contextual.bench_engine import EVAL_DIR, as_page

ROOT = Path(__file__).resolve().parents[2]


def pages(limit: int) -> list[bytes]:
    docs: list[dict[str, str]] = []
    for path in sorted(EVAL_DIR.glob("*.jsonl")):
        docs += [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
    return [as_page(doc).encode("utf-8") for doc in docs[:limit]]


@contextmanager
def site(bodies: list[bytes]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            name = self.path.split("?", 1)[0].rsplit("/", 1)[-1].removesuffix(".html")
            if self.path.startswith("/p/") and name.isdigit() and int(name) < len(bodies):
                body, status = bodies[int(name)], 200
            else:
                body, status = b"not found", 404
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class Probe:
    """One pixel hit every ``interval`` seconds; latencies (ms) per phase."""

    def __init__(self, base: str, paths: list[str], interval: float) -> None:
        self.base, self.paths, self.interval = base, paths, interval
        self.phase = "idle"
        self.samples: dict[str, list[float]] = {}
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as client:
            i = 0
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    ok = client.get(self.paths[i % len(self.paths)]).status_code == 200
                except httpx.HTTPError:
                    ok = False
                elapsed = (time.perf_counter() - started) * 1000
                if ok:
                    self.samples.setdefault(self.phase, []).append(elapsed)
                else:
                    self.failures += 1
                i += 1
                self._stop.wait(self.interval)


def own_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` alone, MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(ln for ln in status.splitlines() if ln.startswith("VmRSS")).split()[1]) / 1024


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and every descendant, MB."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += own_rss_mb(current)
            # a thread's children are listed under that thread (the worker's and the
            # sealer's threads start the classifier and the flushers)
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration):
            continue
    return total


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max": ordered[-1],
    }


def classifier_counts(base: str) -> dict[str, float]:
    """The server's ``beacon_classifier_*`` samples (empty before they existed)."""
    text = httpx.get(f"{base}/metrics", timeout=30).text
    return {
        name: float(value)
        for line in text.splitlines()
        if line.startswith("beacon_classifier_") and " " in line
        for name, value in [line.rsplit(" ", 1)]
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    bodies = pages(args.pages)
    with tempfile.TemporaryDirectory(prefix="beacon-isolation-") as tmp, site(bodies) as origin:
        workdir = Path(tmp)
        env = {"BEACON_FETCH_ALLOW_PRIVATE_NETWORKS": "true"}
        if args.server_src:
            env["PYTHONPATH"] = str(Path(args.server_src).resolve())
        server = Server(workdir, f"sqlite:///{workdir / 'beacon.db'}", args.port, env).start()
        assert server.process is not None
        base = f"http://127.0.0.1:{args.port}"
        try:
            probe = Probe(base, pixel_paths(_campaign(server)), args.probe_interval)
            probe.start()
            time.sleep(args.idle_seconds)
            before_mb = rss_mb(server.process.pid)
            probe.phase = "classifying"
            started = time.monotonic()
            response = httpx.post(
                f"{base}/v1/clsfy/classify/batch",
                json={"urls": [f"{origin}/p/{i}.html" for i in range(len(bodies))]},
                headers={"X-API-Key": server.key or ""},
                timeout=30,
            )
            response.raise_for_status()
            batch = response.json()
            while batch["status"] not in ("complete", "failed"):
                time.sleep(0.25)
                batch = httpx.get(
                    f"{base}/v1/clsfy/classify/batch/{batch['id']}",
                    headers={"X-API-Key": server.key or ""},
                    timeout=30,
                ).json()
            seconds = time.monotonic() - started
            probe.stop()
            result = {
                "server_src": args.server_src or "this checkout",
                "pages": len(bodies),
                "batch_status": batch["status"],
                "summary": batch.get("summary"),
                "batch_seconds": seconds,
                "probe": {phase: percentiles(s) for phase, s in probe.samples.items()},
                "probe_failures": probe.failures,
                "rss_mb_before": before_mb,
                "rss_mb_after": rss_mb(server.process.pid),
                "server_rss_mb_after": own_rss_mb(server.process.pid),
                "load": os.getloadavg()[0],
                # what the child did meanwhile, the batch's pages and the store's ticks (the
                # probe's page URLs, which do not resolve here, fail), where /metrics has it
                "classifier": classifier_counts(base),
            }
        finally:
            server.signal(15)
    return result


def render(results: list[dict[str, Any]]) -> str:
    lines = [
        "| server | probe phase | hits | p50 | p99 | max | batch (s) | RSS server / with children (MB) | load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for phase in ("idle", "classifying"):
            p = r["probe"].get(phase)
            if p is None:
                continue
            lines.append(
                f"| {r['server_src']} | {phase} | {p['n']} | {p['p50']:.2f} ms | {p['p99']:.2f} ms"
                f" | {p['max']:.1f} ms | {r['batch_seconds']:.1f} | {r['server_rss_mb_after']:.0f}"
                f" / {r['rss_mb_after']:.0f} | {r['load']:.1f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=243)
    parser.add_argument("--port", type=int, default=8731)
    parser.add_argument("--server-src", default="")
    parser.add_argument("--probe-interval", type=float, default=0.01)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    result = run(args)
    print(render([result]))
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
