"""Regenerate the README's configuration table from the Settings field descriptions.

.venv/bin/python scripts/gen_config_table.py          # rewrite README.md
.venv/bin/python scripts/gen_config_table.py --check  # exit 1 when README.md is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from beacon.core.config_docs import render_readme, update_readme

README = Path(__file__).resolve().parent.parent / "README.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report a stale table")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args()
    if args.check:
        current = args.readme.read_text(encoding="utf-8")
        if render_readme(current) != current:
            print(f"{args.readme}: configuration table is stale; run {sys.argv[0]}")
            return 1
        return 0
    changed = update_readme(args.readme)
    print(f"{args.readme}: {'updated' if changed else 'already current'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
