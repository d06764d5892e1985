"""The long fuzzing run: the suite's contract fuzzer with many examples per operation.

    python bench/fuzz/run.py [--examples 300] [--postgres URL] [pytest args...]

Runs tests/api/test_fuzz.py (schemathesis against Beacon's own /openapi.json, every API
family: no 5xx, every response conforms to its documented schema, status and envelope, and
schema-valid requests are accepted by every operation (`positive_data_acceptance`; the test
points generated references at real resources)) with BEACON_FUZZ_EXAMPLES examples per
operation instead of the suite's 10. With --postgres (or BEACON_TEST_POSTGRES_URL set) it
fuzzes every operation on PostgreSQL, whose stricter types find more (BEACON_FUZZ_BACKEND; the
suite instead splits the operations between the two backends); without, on SQLite. Exit status
is pytest's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300, help="examples per operation")
    parser.add_argument("--postgres", help="PostgreSQL URL for the test databases")
    parser.add_argument("--workers", default="auto", help="pytest-xdist workers (-n)")
    args, rest = parser.parse_known_args()
    env = {**os.environ, "BEACON_FUZZ_EXAMPLES": str(args.examples)}
    if args.postgres:
        env["BEACON_TEST_POSTGRES_URL"] = args.postgres
    env.setdefault("BEACON_FUZZ_BACKEND", "postgres")  # used only when PostgreSQL is configured
    command = [
        sys.executable, "-m", "pytest", "tests/api/test_fuzz.py", "-q", "-p", "no:cacheprovider",
        "-n", args.workers, *rest,
    ]  # fmt: skip
    print(f"$ BEACON_FUZZ_EXAMPLES={args.examples} {' '.join(command[2:])}", flush=True)
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    raise SystemExit(main())
