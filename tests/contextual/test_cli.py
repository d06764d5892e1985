"""`beacon classify URL...` as a real process against a real local web server."""

from __future__ import annotations

import json
from pathlib import Path

from tests.contextual.site.server import LocalSite
from tests.support import run_cli


def test_prints_a_readable_table(site: LocalSite, tmp_path: Path) -> None:
    football, pasta = site.url("/football.html"), site.url("/pasta.html")
    env = {"BEACON_FETCH_ALLOW_PRIVATE_NETWORKS": "true", "BEACON_DATA_DIR": str(tmp_path)}
    result = run_cli("classify", football, pasta, env=env)
    assert result.returncode == 0, result.stderr
    blocks = result.stdout.strip().split("\n\n")
    assert len(blocks) == 2
    sports = blocks[0].splitlines()
    assert sports[0] == football
    assert sports[1].split()[:3] == ["categories", sports[1].split()[1], "Sports"]
    assert sports[1].split()[1].startswith("IAB17")
    assert float(sports[1].split()[-1]) > 0.3
    keywords = next(line for line in sports if line.strip().startswith("keywords"))
    assert "Premier League" in keywords
    entities = next(line for line in sports if line.strip().startswith("entities"))
    assert "Mohamed Salah (person" in entities
    assert any(line.split()[:1] == ["sentiment"] for line in sports)
    assert "  language    en" in sports
    assert "Food & Drink" in blocks[1]


def test_prints_the_language_and_the_unsupported_note(site: LocalSite, tmp_path: Path) -> None:
    env = {"BEACON_FETCH_ALLOW_PRIVATE_NETWORKS": "true", "BEACON_DATA_DIR": str(tmp_path)}
    result = run_cli("classify", site.url("/nieuws.html"), env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "  categories  -          (none)                           0.00" in lines
    assert "  language    nl (unsupported_language)" in lines


def test_refuses_private_addresses_by_default_and_exits_1(site: LocalSite) -> None:
    env = {"BEACON_FETCH_ALLOW_PRIVATE_NETWORKS": "false"}
    result = run_cli("classify", "--json", site.url("/football.html"), env=env)
    assert result.returncode == 1
    line = json.loads(result.stdout)
    assert line["url"] == site.url("/football.html")
    assert "non-public address (loopback address)" in line["error"]
    assert site.hits["/football.html"] == 0


def test_classifies_local_files_beside_urls(site: LocalSite, tmp_path: Path) -> None:
    pages = Path(__file__).parent / "site"
    html_file = tmp_path / "page.html"
    html_file.write_bytes((pages / "football.html").read_bytes())
    text_file = tmp_path / "notes.txt"
    text_file.write_text(
        "Spaghetti carbonara is a Roman pasta recipe: cook the pasta, whisk eggs with pecorino "
        "cheese and black pepper, fry the guanciale, and toss everything off the heat. "
        "Serve the dish with more cheese. A simple Italian dinner recipe for the kitchen."
    )
    env = {"BEACON_FETCH_ALLOW_PRIVATE_NETWORKS": "true", "BEACON_DATA_DIR": str(tmp_path)}
    result = run_cli(
        "classify", "--json", str(html_file), site.url("/pasta.html"), str(text_file), env=env
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["url"] for line in lines] == [
        str(html_file),
        site.url("/pasta.html"),
        str(text_file),
    ]
    names = [[c["name"] for c in line["classification"]["iab_categories"]] for line in lines]
    assert "Sports" in names[0]
    assert "Food & Drink" in names[1]
    assert "Food & Drink" in names[2]
    table = run_cli("classify", str(html_file), env=env)
    assert table.stdout.splitlines()[0] == str(html_file)
    assert table.stdout.splitlines()[1].split()[0] == "categories"


def test_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    env = {"BEACON_DATA_DIR": str(tmp_path)}
    result = run_cli("classify", "--json", str(tmp_path / "nope.html"), env=env)
    assert result.returncode == 1
    line = json.loads(result.stdout)
    assert line["error"].startswith(f"cannot read {tmp_path / 'nope.html'}: No such file")
