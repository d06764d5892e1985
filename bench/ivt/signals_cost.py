"""Per-hit cost of `InvalidTrafficDetector.classify` past the User-Agent, by kind of hit.

    nice -n 19 python bench/ivt/signals_cost.py [--runs 5] [--hits 20000]

Four streams of browser hits (a few real browser User-Agents, warmed in the classifier's
cache as in the long-lived flusher, so what is timed is the rest: the request's headers, the
network lookup and the activity rule): from home addresses without kept headers; the same with
a CDN's country header (the headers are looked at); from published cloud and fleet networks
(a data-center or AI-operator answer); and signed by ChatGPT agent (Web Bot Auth). Prints the
median and the fastest microseconds per hit of `--runs` runs per stream (after one untimed run
that warms the process-wide caches), as JSON; on a shared machine the fastest run is the
steadier figure. It uses only the detector's
public API, so it also runs against an older tree (`PYTHONPATH=<old>/src`) for an A/B.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import statistics
import time
from importlib import resources

from beacon.core.clientaddr import IPAddress
from beacon.pixel.datacenter import vendored_ranges
from beacon.pixel.ivt import ActivityRule, HitContext, InvalidTrafficDetector

BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/138.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
)
SIGNED = {
    "signature-agent": '"https://chatgpt.com"',
    "signature-input": 'sig1=("@authority" "@method" "@path" "signature-agent");'
    'created=1754340838;keyid="otMqcjr17mGyruktGvJU8oojQTSMHlVm7uO-lrcqbdg";'
    'expires=1754344438;nonce="_8jbGwfLcgt";tag="web-bot-auth";alg="ed25519"',
}
T0 = 1_767_225_600.0


def _home_addresses(rng: random.Random, n: int) -> list[IPAddress]:
    ranges = vendored_ranges()
    out: list[IPAddress] = []
    while len(out) < n:
        ip = ipaddress.ip_address(rng.randrange(1 << 24, 223 << 24))
        if ip.is_global and ranges.provider(ip) is None:
            out.append(ip)
    return out


def _cloud_addresses(rng: random.Random, n: int) -> list[IPAddress]:
    text = resources.files("beacon.pixel").joinpath("data/datacenter/ranges.tsv").read_text()
    networks = [ipaddress.ip_network(line.split("\t")[1]) for line in text.splitlines() if line]
    out: list[IPAddress] = []
    for _ in range(n):
        network = rng.choice(networks)
        offset = rng.randrange(min(network.num_addresses, 1 << 32))
        out.append(network.network_address + offset)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hits", type=int, default=20_000)
    args = parser.parse_args()
    rng = random.Random(11)
    homes = _home_addresses(rng, args.hits)
    clouds = _cloud_addresses(rng, args.hits)
    country = {"cf-ipcountry": "US"}
    streams = {
        "home_no_headers": (homes, {}),
        "home_country_header": (homes, country),
        "cloud_networks": (clouds, {}),
        "signed_agent": (homes, SIGNED),
    }
    results: dict[str, dict[str, float]] = {}
    for name, (addresses, headers) in streams.items():
        runs = []
        for run in range(args.runs + 1):  # the first, untimed, warms the process-wide caches
            detector = InvalidTrafficDetector(activity=ActivityRule(max_per_minute=10**9))
            for ua in BROWSERS:
                detector.agents.classify(ua)
            hits = [
                (BROWSERS[i % len(BROWSERS)], HitContext(1, T0 + i / 1000, ip, headers))
                for i, ip in enumerate(addresses)
            ]
            started = time.perf_counter()
            for ua, hit in hits:
                detector.classify(ua, hit)
            if run:
                runs.append((time.perf_counter() - started) / len(hits))
        results[name] = {
            "median": round(statistics.median(runs) * 1e6, 3),
            "min": round(min(runs) * 1e6, 3),
        }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
