"""Every shell example of README.md and docs/*.md runs, page by page, against a live server.

A ``beacon serve`` (free port, temporary data directory, SQLite) runs the pages; each page runs
its fenced ``sh``/``bash`` blocks in order in a working directory of its own, with the README's shell
variables set (``BEACON``, ``BEACON_KEY``, ``BEACON_CLIENT_ID``, ``BEACON_CLIENT_SECRET``,
``TOKEN``) and ``beacon`` on PATH, pointing at the server's database. Variables a block sets
are kept for the next blocks of the page. The docs' default address (``http://127.0.0.1:8000``)
is read as the test server's. A block that cannot run here is marked in the page with
``<!-- not-run: reason -->`` on the line before its fence.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.support import LiveServer

from beacon.contextual.classification_repository import save_classification
from beacon.contextual.engine import ENGINE_VERSION
from beacon.core import auth
from beacon.core.db import Database
from beacon.core.timefmt import utcnow
from beacon.messaging.oauth import service as oauth

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DOCS_ADDRESS = "http://127.0.0.1:8000"
FENCE = re.compile(r"^```(\w*)\s*$")
NOT_RUN = re.compile(r"^<!--\s*not-run:(.*?)-->\s*$")
BLOCK_TIMEOUT = 90
ACCOUNT = "acme"


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    code: str
    not_run: str | None

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def shell_blocks(path: Path) -> list[Block]:
    """The fenced sh/bash blocks of a page, in order, with their not-run reason if marked."""
    return shell_blocks_of(path.read_text(), page=path.relative_to(ROOT).as_posix())


def shell_blocks_of(text: str, *, page: str) -> list[Block]:
    """The blocks of a page's markdown ``text``; ``page`` names them in failures."""
    lines = text.splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = index + 1
        while not lines[end].startswith("```"):
            end += 1
        if opening.group(1) in ("sh", "bash"):
            previous = next((line for line in reversed(lines[:index]) if line.strip()), "")
            marker = NOT_RUN.match(previous)
            found.append(
                Block(
                    page=page,
                    line=index + 1,
                    code="\n".join(lines[index + 1 : end]),
                    not_run=marker.group(1).strip() if marker else None,
                )
            )
        index = end + 1
    return found


def test_shell_blocks_are_found_in_order_with_their_marker() -> None:
    text = (
        "# Page\n\n```json\n{}\n```\n\n<!-- not-run: fetches a public page -->\n"
        "```sh\ncurl https://example.com/\n```\n\n```bash\nA=1\necho $A\n```\n"
    )
    blocks = shell_blocks_of(text, page="docs/_example.md")
    assert [(b.line, b.code, b.not_run) for b in blocks] == [
        (8, "curl https://example.com/", "fetches a public page"),
        (12, "A=1\necho $A", None),
    ]


def test_not_run_markers_give_a_reason_and_precede_a_shell_block() -> None:
    marked = 0
    for path in PAGES:
        lines = path.read_text().splitlines()
        for number, text in enumerate(lines, 1):
            if "not-run" not in text:
                continue
            marker = NOT_RUN.match(text)
            assert marker and len(marker.group(1).strip()) >= 10, f"{path.name}:{number}: {text}"
            following = next((t for t in lines[number:] if t.strip()), "")
            assert following in ("```sh", "```bash"), f"{path.name}:{number}: not before a block"
            marked += 1
    blocks = [block for path in PAGES for block in shell_blocks(path)]
    skipped = [block for block in blocks if block.not_run]
    assert len(skipped) == marked
    # The exceptions stay exceptions: most examples run.
    assert len(skipped) * 4 < len(blocks), [str(block) for block in skipped]


# What a page's examples assume of the world beyond the server, set up before they run.
def _classified_inventory(db: Database) -> None:
    """docs/activate.md uploads public news pages this machine cannot fetch: store their
    classifications as the contextual worker would have (two tech pages, a negative one about
    politics the segment excludes, and two off-topic pages)."""
    pages = {
        "https://www.nytimes.com/2026/01/15/technology/ai-chips.html": (
            "IAB19-6", "Technology & Computing", 0.82, "positive"),
        "https://www.theguardian.com/technology/2026/jan/15/gpu-shortage": (
            "IAB19", "Technology & Computing", 0.71, "neutral"),
        "https://www.theguardian.com/world/2026/jan/16/chip-export-conflict": (
            "IAB11", "Law, Gov't & Politics", 0.66, "negative"),
        "https://www.wired.com/story/ev-batteries/": ("IAB2", "Automotive", 0.74, "positive"),
        "https://www.bbc.com/food/recipes/tomato-pasta": ("IAB8", "Food & Drink", 0.9, "positive"),
    }  # fmt: skip
    with db.transaction() as session:
        for url, (code, name, confidence, label) in pages.items():
            classification = {
                "iab_categories": [{"id": code, "name": name, "confidence": confidence,
                                    "tier": 2 if "-" in code else 1, "subcategory": None,
                                    "iab3_id": None}],
                "keywords": ["chips"], "entities": [],
                "sentiment": {"label": label, "score": 0.5},
            }  # fmt: skip
            save_classification(
                session,
                url=url,
                domain=url.split("/")[2].removeprefix("www."),
                classification=classification,
                engine_version=ENGINE_VERSION,
                classified_at=utcnow(),
            )


PAGE_SETUP: dict[str, Callable[[Database], None]] = {"docs/activate.md": _classified_inventory}
RUNNABLE = [path for path in PAGES if any(not b.not_run for b in shell_blocks(path))]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the pages a test process runs: examples create what they use, so pages
    do not depend on each other, and a server start costs more than most pages."""
    live = LiveServer(
        data_dir=tmp_path_factory.mktemp("docs") / "var",
        database_url="",
        env={
            "BEACON_RATE_LIMIT": "100000/minute",
            "BEACON_PIXEL_FLUSH_INTERVAL": "0.2",
            "BEACON_MESSAGING_SCHEDULER_INTERVAL_SECONDS": "0.2",
            "BEACON_SEGMENT_BUILD_WAIT_SECONDS": "5",
            # No background classification: it would fetch the public pages the pixel examples
            # mention. Pages an example needs classified are stored by PAGE_SETUP.
            "BEACON_CLASSIFICATION_INTERVAL_SECONDS": "3600",
            "BEACON_FETCH_TOTAL_TIMEOUT": "5",
        },
    ).start()
    try:
        yield live
    finally:
        live.stop()


def _shell_environment(server: LiveServer, db: Database, tmp_path: Path) -> dict[str, str]:
    """What a reader has after the README: the variables, and ``beacon`` on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "beacon"
    program.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m beacon.cli "$@"\n')
    program.chmod(0o755)
    with db.transaction() as session:  # the README's own account
        key = auth.issue_api_key(session=session, account_name=ACCOUNT).key
        client = oauth.create_client(
            session=session, account_name=ACCOUNT, scopes=" ".join(oauth.SCOPES)
        )
    token = httpx.post(
        f"{server.base_url}/public/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.client_secret,
        },
    ).json()["access_token"]
    return {
        **server.env,
        "BEACON_DATA_DIR": str(server.data_dir),
        "BEACON_DATABASE_URL": "",
        "PATH": f"{bin_dir}:{server.env['PATH']}",
        "BEACON": server.base_url,
        "BEACON_KEY": key,
        "BEACON_CLIENT_ID": client.client_id,
        "BEACON_CLIENT_SECRET": client.client_secret,
        "TOKEN": token,
    }


def _run(block: Block, *, base_url: str, work: Path, state: Path, env: dict[str, str]) -> None:
    code = block.code.replace(DOCS_ADDRESS, base_url)
    # set -a: every variable a block assigns is exported, so `export -p` carries it over.
    script = f"set -a\n. {state}\nset -e -o pipefail\n{code}\nexport -p > {state}\n"
    try:
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{block}: the example did not finish in {BLOCK_TIMEOUT} s:\n{block.code}")
    if result.returncode != 0:
        pytest.fail(
            f"{block}: the example failed (exit {result.returncode}):\n{block.code}\n"
            f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"
        )
    assert '"internal_error"' not in result.stdout, f"{block}: {result.stdout[-3000:]}"


@pytest.mark.parametrize("page", RUNNABLE, ids=[path.name for path in RUNNABLE])
def test_examples_run(page: Path, server: LiveServer, tmp_path: Path) -> None:
    relative = page.relative_to(ROOT).as_posix()
    log_start = len(server.log_path.read_text())
    db = Database(f"sqlite:///{server.data_dir / 'beacon.db'}")
    try:
        PAGE_SETUP.get(relative, lambda _: None)(db)
        env = _shell_environment(server, db, tmp_path)
    finally:
        db.dispose()
    work = tmp_path / "work"
    work.mkdir()
    state = tmp_path / "state.sh"
    state.write_text("")
    ran = 0
    for block in shell_blocks(page):
        if block.not_run:
            continue
        _run(block, base_url=server.base_url, work=work, state=state, env=env)
        ran += 1
    assert ran > 0
    log = server.log_path.read_text()
    assert "unhandled error" not in log[log_start:], f"{relative}: a 500 in the server log"
