"""`beacon classify URL|FILE...`: fetch and classify pages, or classify local HTML or text
files, from the command line (no database)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from beacon.contextual.pages import PageResult
    from beacon.core.config import Settings


def classify(
    urls: Annotated[
        list[str],
        typer.Argument(
            help="Pages to fetch and classify (http:// or https://), or local HTML/text files.",
            metavar="URL|FILE...",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead.")] = False,
) -> None:
    """Fetch and classify pages, or classify local files (`beacon classify page.html`);
    prints categories, keywords, entities and sentiment.

    Honours the BEACON_FETCH_* settings (timeouts, robots.txt, and the SSRF guard: set
    BEACON_FETCH_ALLOW_PRIVATE_NETWORKS=true to classify pages on a private network).
    """
    import orjson

    from beacon.core.config import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    results = _classify_inputs(urls, settings)
    for index, result in enumerate(results):
        if as_json:
            line = {"url": result.url, "classification": result.classification}
            if result.error is not None:
                line = {"url": result.url, "error": result.error}
            typer.echo(orjson.dumps(line).decode())
            continue
        if index:
            typer.echo("")
        typer.echo(render(result.url, result.classification, result.error))
    if any(result.error is not None for result in results):
        raise typer.Exit(1)


def _classify_inputs(inputs: list[str], settings: Settings) -> list[PageResult]:
    """URLs fetched (in parallel), paths (and ``file://``) read as local files; results in
    input order. Other schemes go to the fetcher, which says it does not take them."""
    from beacon.contextual import service

    is_url = ["://" in arg and not arg.lower().startswith("file://") for arg in inputs]
    fetched = iter(
        service.classify_pages(
            urls=[a for a, u in zip(inputs, is_url, strict=True) if u],
            settings=settings,
            transaction=None,  # no database: no site's hold is read or stored
        )
    )
    return [
        next(fetched)
        if url
        else service.classify_file(path=Path(arg.removeprefix("file://")), settings=settings)
        for arg, url in zip(inputs, is_url, strict=True)
    ]


def render(url: str, classification: dict[str, Any] | None, error: str | None) -> str:
    """A readable block for one page: a row per category, then keywords, entities, sentiment,
    language."""
    lines = [url]
    if classification is None:
        lines.append(f"  error       {error}")
        return "\n".join(lines)
    categories = classification["iab_categories"] or [
        {"id": "-", "name": "(none)", "confidence": 0}
    ]
    for i, category in enumerate(categories):
        label = "categories" if i == 0 else ""
        lines.append(
            f"  {label:<11} {category['id']:<10} {category['name']:<32} {category['confidence']:.2f}"
        )
    lines.append(f"  {'keywords':<11} {', '.join(classification['keywords']) or '-'}")
    entities = [
        f"{e['name']} ({e['type']} {e['confidence']:.2f})" for e in classification["entities"]
    ]
    lines.append(f"  {'entities':<11} {', '.join(entities) or '-'}")
    sentiment = classification["sentiment"]
    lines.append(f"  {'sentiment':<11} {sentiment['label']} {sentiment['score']:.2f}")
    notes = "".join(f" ({note})" for note in classification.get("notes", []))
    lines.append(f"  {'language':<11} {classification.get('language') or '-'}{notes}")
    return "\n".join(lines)
