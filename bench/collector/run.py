"""Collector benchmark: one `beacon serve` under load at 200 and 50,000 distinct page URLs.

    python -m bench.collector.run [--distinct-urls 200 50000] [--duration 10]
        [--connections 50] [--flushers N] [--profile] [--skip-loss] [--database-url URL]
        [--write-docs]

(from the repository root, with the project's virtualenv). For each URL count a server on
a fresh database takes wrk's load, then the run waits until its flushers have counted every
accepted hit: accepted hits/s and latency are wrk's, *sustained* is hits flushed from the
start of the load to the end of the backlog per second. ``--profile`` repeats each run with
the flushers profiling themselves (``BEACON_PIXEL_FLUSHER_PROFILE_DIR``) and reports the
share of their time spent compiling SQL and where the rest goes. nginx serving a static GIF
under the same load is the yardstick for the hot path.

Needs `wrk` and `nginx` on PATH (Debian: `apt-get install -y wrk nginx`). Everything runs on
loopback in a temporary directory: the server on the embedded SQLite database (or
BEACON_BENCH_DATABASE_URL), nginx with one worker process, wrk with one thread rotating
realistic pixel URLs (`load.py`: DSP macros expanded) and User-Agents. The PostgreSQL run
is DESTRUCTIVE for its database: the public schema is dropped and rebuilt per run.

Loss: under the same load the server gets SIGTERM (then, in a separate run, SIGKILL)
mid-run; wrk counts every 200 it received; the server is restarted on the same data
directory and stopped with SIGTERM (which flushes everything), and the rollups must hold
exactly the acknowledged hits.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bench.collector.load import UAS, pixel_paths
from sqlalchemy import create_engine, text

from beacon.core.config import Settings
from beacon.pixel.profiling import (
    compile_share,
    cumulative_seconds,
    load_profiles,
    total_seconds,
)

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Collector"
NOTES = """
Notes: counted may exceed acknowledged after SIGKILL by at most the number of open
connections: a hit is appended before its response is written, so a kill between the two
leaves a stored hit the client never saw acknowledged (none is lost). The spool is flushed by
child processes at nice +10 (`BEACON_PIXEL_FLUSHERS` of them), so
enrichment and the rollup upserts never hold the server's GIL, and under overload the server
answers hits first: the backlog waits on disk. wrk, the server and its flushers share the
same CPUs, so during the load the flushers get what the server and wrk leave; the drain after
it is theirs. With 50,000 URLs nearly every hit is a new row in each of the four rollup
tables (full grain, site-day, URL-day, URL-month), so the flushers write about 3.5 rows
per hit, against a few per thousand hits at 200 URLs. The load average and busy CPUs columns
show how much else ran on the machine at the time (other users' jobs included): on a
machine shared with other work the wall-clock rates are lower bounds, and *hits per flusher
CPU-second* is the figure that carries over.
"""


def lua_script(campaign_id: int, count_acks: bool, workdir: Path, distinct_urls: int = 200) -> str:
    """wrk's script: cycles through the request targets of `load.pixel_paths` (read from a
    file: a table constructor of 50,000 strings is past LuaJIT's limits) and the User-Agents,
    with a fresh cache buster on every request, as a real pixel has."""
    targets = workdir / f"paths-{distinct_urls}.txt"
    targets.write_text("\n".join(pixel_paths(campaign_id, distinct_urls)) + "\n")
    lines = [
        f'local paths = {{}}\nfor line in io.lines("{targets}") do paths[#paths + 1] = line end'
    ]
    lines.append("local uas = {" + ",".join('"' + ua.replace('"', '\\"') + '"' for ua in UAS) + "}")
    lines.append("""
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1] .. "&cb=" .. i, {["User-Agent"] = uas[(i % #uas) + 1]})
end
""")
    if count_acks:
        lines.append("""
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) ok = 0 end
response = function(status, headers, body) if status == 200 then ok = ok + 1 end end
done = function(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("ok") end
  io.write(string.format("ACKNOWLEDGED %d\\n", total))
end
""")
    return "\n".join(lines)


def wrk(url: str, script: Path, duration: float, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])}  # type: ignore[index]
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        result[f"p{pct}_ms"] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    acked = re.search(r"ACKNOWLEDGED (\d+)", out)
    if acked:
        result["acknowledged"] = int(acked[1])
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non_2xx"] = int(errors[1]) if errors else 0
    return result


class Server:
    def __init__(
        self, workdir: Path, database_url: str, port: int, extra_env: dict[str, str] | None = None
    ) -> None:
        self.port, self.workdir = port, workdir
        self.env = {**os.environ, "BEACON_DATA_DIR": str(workdir / "data"),
                    "BEACON_DATABASE_URL": database_url, "BEACON_LOG_LEVEL": "WARNING",
                    **(extra_env or {})}  # fmt: skip
        self.process: subprocess.Popen[str] | None = None
        self.key: str | None = None

    def start(self) -> Server:
        log = (self.workdir / "server.log").open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "beacon.cli", "serve", "--port", str(self.port)],
            env=self.env, stdout=subprocess.PIPE, stderr=log, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if "X-API-Key:" in line:
                self.key = line.split("X-API-Key:", 1)[1].strip()
            if "X-API-Key:" in line or "keys create --account" in line:
                break
        for _ in range(300):
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def signal(self, sig: int) -> float:
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(sig)
        self.process.wait(60)
        return time.monotonic() - started


def nginx(workdir: Path, port: int, gif: bytes) -> subprocess.Popen[bytes]:
    www = workdir / "www"
    www.mkdir()
    (www / "pixel.gif").write_bytes(gif)
    for path in (workdir, www, www / "pixel.gif"):
        path.chmod(0o755)
    conf = workdir / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {workdir}/tmp-body; proxy_temp_path {workdir}/tmp-proxy;
  fastcgi_temp_path {workdir}/tmp-fcgi; uwsgi_temp_path {workdir}/tmp-uwsgi;
  scgi_temp_path {workdir}/tmp-scgi;
  server {{
    listen 127.0.0.1:{port};
    location /px/ {{
      root {www}; try_files /pixel.gif =404; default_type image/gif;
      add_header Cache-Control no-store always;
    }}
  }}
}}
""")
    process = subprocess.Popen(["nginx", "-c", str(conf)])
    time.sleep(0.5)
    return process


def flushed_metric(port: int, name: str = "beacon_pixel_hits_flushed_total") -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def drain(port: int, *, since: float, timeout: float = 300.0) -> float:
    """Seconds after the load until the flusher has counted every accepted hit."""
    accepted = 'beacon_pixel_hits_accepted_total{source="gif"}'
    while time.monotonic() - since < timeout:
        if flushed_metric(port) >= flushed_metric(port, accepted):
            return time.monotonic() - since
        time.sleep(0.2)
    return float("nan")


def counted(database_url: str) -> int:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        total = conn.execute(text("SELECT COALESCE(SUM(hits), 0) FROM pixel_rollups")).scalar()
    engine.dispose()
    return int(total or 0)


def loss_run(base: Path, sig: int, args: argparse.Namespace, port: int) -> dict[str, float]:
    workdir = base / f"loss-{signal.Signals(sig).name}"
    workdir.mkdir()
    database_url = args.database_url or f"sqlite:///{workdir / 'beacon.db'}"
    if args.database_url:
        _reset(database_url)
    server = Server(workdir, database_url, port, _server_env(args)).start()
    campaign_id = _campaign(server)
    script = workdir / "acks.lua"
    script.write_text(lua_script(campaign_id, count_acks=True, workdir=workdir))
    load = subprocess.Popen(
        ["wrk", "-t1", f"-c{args.connections}", f"-d{args.loss_duration:g}s", "--latency", "-s",
         str(script), f"http://127.0.0.1:{port}/"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(args.loss_duration / 2)
    stop_seconds = server.signal(sig)
    out = load.communicate()[0]
    acknowledged = int(re.search(r"ACKNOWLEDGED (\d+)", out)[1])  # type: ignore[index]
    restarted = Server(workdir, database_url, port, _server_env(args)).start()
    restarted.signal(signal.SIGTERM)  # replays the spool on start, flushes on exit
    return {"acknowledged": acknowledged, "counted": counted(database_url),
            "stop_seconds": stop_seconds}  # fmt: skip


def _campaign(server: Server) -> int:
    response = httpx.post(
        f"http://127.0.0.1:{server.port}/v1/pixel/campaigns",
        json={"name": "bench", "use_case": "campaign_reporting"},
        headers={"X-API-Key": server.key or ""},
    )
    response.raise_for_status()
    return int(response.json()["id"])


def _reset(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def _server_env(args: argparse.Namespace, profile_dir: Path | None = None) -> dict[str, str]:
    env = {"BEACON_PIXEL_FLUSHERS": str(args.flushers)} if args.flushers else {}
    if args.server_src:  # e.g. another checkout's src/, to compare before and after
        env["PYTHONPATH"] = str(Path(args.server_src).resolve())
    if profile_dir is not None:
        env["BEACON_PIXEL_FLUSHER_PROFILE_DIR"] = str(profile_dir)
    return env


def throughput_run(
    base: Path, args: argparse.Namespace, distinct_urls: int, port: int, *, profile: bool = False
) -> dict[str, Any]:
    """One server on a fresh database: wrk for ``args.duration``, then the drain."""
    workdir = base / f"{'profile' if profile else 'load'}-{distinct_urls}"
    workdir.mkdir()
    database_url = args.database_url or f"sqlite:///{workdir / 'beacon.db'}"
    if args.database_url:
        _reset(database_url)
    profile_dir = workdir / "profiles" if profile else None
    server = Server(workdir, database_url, port, _server_env(args, profile_dir)).start()
    campaign_id = _campaign(server)
    script = workdir / "load.lua"
    script.write_text(lua_script(campaign_id, False, workdir, distinct_urls))
    load_before = os.getloadavg()[0]
    wrk(f"http://127.0.0.1:{port}/", script, 2, args.connections)  # warm caches
    drain(port, since=time.monotonic())  # the warm-up's hits are not measured
    assert server.process is not None
    cpu_before, flusher_cpu = _cpu_seconds(), _children_cpu(server.process.pid)
    loaded, before = time.monotonic(), flushed_metric(port)
    result: dict[str, Any] = wrk(
        f"http://127.0.0.1:{port}/", script, args.duration, args.connections
    )
    result["drain_seconds"] = drain(port, since=time.monotonic())
    elapsed = time.monotonic() - loaded
    result["flushed"] = flushed_metric(port) - before
    result["flushed_per_second"] = result["flushed"] / elapsed
    result["load"] = (load_before, os.getloadavg()[0])
    result["busy_cpus"] = (_cpu_seconds() - cpu_before) / elapsed
    result["flusher_cpu"] = _children_cpu(server.process.pid) - flusher_cpu
    result["hits_per_flusher_cpu"] = result["flushed"] / result["flusher_cpu"]
    server.signal(signal.SIGTERM)
    if profile_dir is not None:
        # each flusher writes its profile as it exits, which can be after the server did
        wanted = args.flushers or Settings().pixel_flushers
        deadline = time.monotonic() + 60
        while len(list(profile_dir.glob("flusher-*.prof"))) < wanted:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        time.sleep(1)
        result["profile"] = profile_summary(profile_dir)
    return result


def _cpu_seconds() -> float:
    """CPU seconds the whole machine spent busy (every process: ours and other users')."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _children_cpu(pid: int) -> float:
    """CPU seconds used so far by the child processes of ``pid`` (the flushers)."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def profile_summary(directory: Path) -> dict[str, Any]:
    """The flushers' profiles merged: share compiling SQL, and where the time went."""
    stats = load_profiles(sorted(directory.glob("flusher-*.prof")))
    if stats is None:
        return {"compile_share": float("nan"), "total": 0.0, "top": []}
    total = total_seconds(stats)
    # The enrichment's entry point is `count_key` since it counts tuples; older servers
    # (--server-src) called `rollup_key`, which now only wraps `count_key`.
    groups: dict[str, list[tuple[str, str]]] = {
        "enrichment (hits.py and below)": [
            ("beacon/pixel/hits.py", "count_key"), ("beacon/pixel/hits.py", "rollup_key"),
        ],
        "rollup increments (rows built, then written)": [("beacon/pixel/rollups.py", "increment")],
        "of which writes (upserts.add_rows: driver, database)": [
            ("beacon/pixel/upserts.py", "add_rows"),
        ],
    }  # fmt: skip
    top = []
    for label, entries in groups.items():
        seconds = max(cumulative_seconds(stats, *where) for where in entries)
        top.append((label, seconds / total if total else 0.0))
    return {"compile_share": compile_share(stats), "total": total, "top": top}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--loss-duration", type=float, default=8)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument(
        "--distinct-urls", type=int, nargs="+", default=[200, 50_000],
        help="page URLs in the load, one run each (over 2,000 domains for 50,000)",
    )  # fmt: skip
    parser.add_argument(
        "--flushers", type=int, default=0, help="BEACON_PIXEL_FLUSHERS (default: the server's)"
    )
    parser.add_argument(
        "--profile", action="store_true",
        help="also profile the flushers (cProfile, a separate run per URL count)",
    )  # fmt: skip
    parser.add_argument(
        "--server-src", help="run the servers from this src/ directory (before/after runs)"
    )
    parser.add_argument("--port", type=int, default=18765, help="the server's; nginx: +1")
    parser.add_argument(
        "--profile-only", action="store_true", help="only the profiled runs, printed"
    )
    parser.add_argument("--skip-loss", action="store_true", help="no SIGTERM/SIGKILL runs")
    parser.add_argument("--database-url", default=os.environ.get("BEACON_BENCH_DATABASE_URL"))
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: apt-get install -y wrk nginx")
    from beacon.pixel.collector import TRANSPARENT_GIF

    base = Path(tempfile.mkdtemp(prefix="beacon-bench-"))
    server_port, nginx_port = args.port, args.port + 1
    results: dict[str, Any] = {"runs": {}, "profiles": {}}
    for distinct_urls in () if args.profile_only else args.distinct_urls:
        results["runs"][distinct_urls] = throughput_run(base, args, distinct_urls, server_port)
        print(distinct_urls, results["runs"][distinct_urls], flush=True)
    for distinct_urls in args.distinct_urls if args.profile or args.profile_only else ():
        run = throughput_run(base, args, distinct_urls, server_port, profile=True)
        results["profiles"][distinct_urls] = run["profile"]
        print(distinct_urls, run, flush=True)
    if args.profile_only:
        print(profile_table(results["profiles"]))
        return
    web = nginx(base, nginx_port, TRANSPARENT_GIF)
    script = base / "nginx.lua"
    script.write_text(lua_script(1, False, base))
    try:
        results["nginx"] = wrk(
            f"http://127.0.0.1:{nginx_port}/", script, args.duration, args.connections
        )
    finally:
        web.send_signal(signal.SIGQUIT)
        web.wait(10)
    if not args.skip_loss:
        results["sigterm"] = loss_run(base, signal.SIGTERM, args, server_port)
        results["sigkill"] = loss_run(base, signal.SIGKILL, args, server_port)
    report = render(results, args)
    print(report)
    if args.write_docs:
        write_section(report, args)
    shutil.rmtree(base, ignore_errors=True)


def render(results: dict[str, Any], args: argparse.Namespace) -> str:
    backend = "PostgreSQL" if args.database_url else "SQLite"
    flushers = args.flushers or Settings().pixel_flushers
    static = results["nginx"]
    rows = [
        f"{section(args)}",
        "",
        f"Measured by `python -m bench.collector.run {command_args(args)}` on "
        f"{time.strftime('%Y-%m-%d')}: {os.cpu_count()} CPUs shared by wrk (1 thread, "
        f"{args.connections} connections, {args.duration:g} s) and one `beacon serve` process "
        f"({backend}, default settings but `BEACON_PIXEL_FLUSHERS={flushers}`: its spool "
        "flusher child processes, and the in-process worker), loopback. The load is the script tag's GIF with a DSP's macros "
        "expanded, 10 User-Agents and a fresh cache buster per hit, over N distinct page URLs "
        "(200: 10 news sites; 50,000: 2,000 domains). *sustained* is hits flushed into the "
        "rollups from the start of the load until the backlog is empty, divided by that time: "
        "what one server keeps up with indefinitely, its spool flat. *busy CPUs* is how many "
        "of the machine's CPUs were busy on average during that time, counting every process "
        "on the machine (other users' too): the benchmark's own need is at most 2. *hits per "
        "flusher CPU-second* is hits flushed divided by the CPU time the flusher processes "
        "used, which other load on the machine does not change: the rate one flusher "
        "sustains on a core of its own.",
        "",
        "| distinct URLs | accepted hits/s | p50 | p99 | drain after the load | sustained hits/s "
        "| hits per flusher CPU-second | load avg before/after | busy CPUs |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for distinct_urls, run in results["runs"].items():
        rows.append(
            f"| {distinct_urls:,} | {run['rps']:,.0f} | {run['p50_ms']:.2f} ms "
            f"| {run['p99_ms']:.2f} ms | {run['drain_seconds']:.1f} s "
            f"| **{run['flushed_per_second']:,.0f}** | {run['hits_per_flusher_cpu']:,.0f} "
            f"| {run['load'][0]:.1f} / {run['load'][1]:.1f} "
            f"| {run['busy_cpus']:.2f} |"
        )
    rows += [
        "",
        f"nginx (1 worker, static GIF, no access log) under the same 200-URL load: "
        f"{static['rps']:,.0f} hits/s, p50 {static['p50_ms']:.2f} ms, p99 {static['p99_ms']:.2f} ms.",
    ]
    if 200 in results["runs"]:
        ratio = results["runs"][200]["rps"] / static["rps"]
        rows[-1] += (
            f" Beacon accepted {ratio:.0%} of nginx's rate under the same load (target ≥ 33%)."
        )
    if results["profiles"]:
        rows += ["", profile_table(results["profiles"])]
    if "sigterm" in results:
        rows += [
            "",
            "Loss under load (200 URLs; wrk counts every 200; the server is restarted on the "
            "same data directory and stopped with SIGTERM, which flushes the spool):",
            "",
            "| signal mid-run | acknowledged by wrk | counted in rollups | time to exit |",
            "|---|---|---|---|",
        ]
        for name in ("sigterm", "sigkill"):
            run = results[name]
            rows.append(
                f"| {name.upper()} | {run['acknowledged']:,} | {run['counted']:,} | {run['stop_seconds']:.2f} s |"
            )
    return "\n".join(rows) + "\n" + NOTES


def profile_table(profiles: dict[int, dict[str, Any]]) -> str:
    labels = [label for label, _ in next(iter(profiles.values()))["top"]]
    rows = [
        "Where the flushers' CPU time goes (cProfile of their flush loops with a CPU-time "
        "clock, in a separate run with `--profile`; shares of the time spent flushing, nested, "
        "so they need not add up to 100%; cProfile charges every Python call it sees, so the "
        "many small calls of enrichment weigh more than the driver's C code: a sampling "
        'profiler gives the database writes a larger share, see "Flusher CPU per hit"):',
        "",
        "| distinct URLs | compiling SQL | " + " | ".join(labels) + " |",
        "|---|---|" + "---|" * len(labels),
    ]
    for distinct_urls, profile in profiles.items():
        shares = " | ".join(f"{share:.0%}" for _, share in profile["top"])
        rows.append(f"| {distinct_urls:,} | {profile['compile_share']:.1%} | {shares} |")
    return "\n".join(rows)


def section(args: argparse.Namespace) -> str:
    backend = "PostgreSQL" if args.database_url else "SQLite"
    return f"{SECTION} ({backend})"


def command_args(args: argparse.Namespace) -> str:
    parts = ["--write-docs"]
    if args.skip_loss:
        parts.insert(0, "--skip-loss")
    if args.flushers:
        parts.insert(0, f"--flushers {args.flushers}")
    if args.database_url:
        parts.insert(0, "--database-url postgresql+psycopg://...")
    if args.profile:
        parts.insert(0, "--profile")
    return " ".join(parts)


def write_section(report: str, args: argparse.Namespace) -> None:
    existing = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    heading = section(args)
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(existing):
        updated = pattern.sub(lambda _: report + "\n", existing)
    else:
        updated = existing.rstrip("\n") + "\n\n" + report
    DOCS.write_text(updated)


if __name__ == "__main__":
    main()
