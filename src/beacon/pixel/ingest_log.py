"""`beacon ingest-log`: nginx/Apache combined-format access logs as server-side events.

Each request line becomes an event on the same path as pixel hits (spool -> consumer ->
rollups). The page URL is the request's `url` query parameter when present (a pixel request
logged by another server), else `--site` + the request target (a publisher's page log), else
the Referer. Other query parameters are macros. Failed requests (status >= 400), anything but
GET (a HEAD is no page load) and, for page logs, static assets are skipped.

A file is remembered per campaign (device, inode, hash of its first bytes, byte offset reached),
so a re-run reads only what was appended since; a rotated or replaced file is read again. So
only a regular file is read: a pipe or a device has no offset to resume from (and opening a
FIFO no one writes to would wait forever).

The events go through the spool `beacon serve` shares; `pixel.ingest_flush` counts them.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import re
import stat
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol, cast
from urllib.parse import parse_qsl, urlsplit

from beacon.pixel.enrich import HitRejected, extract_macros
from beacon.pixel.hits import event_record, normalize_page_url
from beacon.pixel.macros import PAGE_URL_FIELD, REFERRER_FIELD, RESERVED_PARAMS
from beacon.pixel.spool import Spool

# %h %l %u [%t] "%r" %>s %b "%{Referer}i" "%{User-Agent}i" (anything after is ignored)
COMBINED = re.compile(
    r'^(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" '
    r'(?P<status>\d{3}) \S+ "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<ua>(?:[^"\\]|\\.)*)"'
)
ASSET_SUFFIXES = (
    ".css", ".js", ".mjs", ".map", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".svg",
    ".ico", ".woff", ".woff2", ".ttf", ".otf", ".mp4", ".webm", ".mp3", ".json", ".xml", ".txt",
)  # fmt: skip
_RESERVED = set(RESERVED_PARAMS)
# The first bytes of a file identify its content: a rotated or replaced log differs there.
HEAD_BYTES = 4096


@dataclass
class IngestSummary:
    """What happened to each line of a log."""

    lines: int = 0
    bytes: int = 0
    spooled: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class LogEvent:
    ts: float
    ip: str
    url: str
    user_agent: str
    macros: dict[str, str]


def parse_line(line: str, *, site: str | None, include_assets: bool = False) -> LogEvent:
    """One combined-format line as an event; HitRejected(reason) when it is not one."""
    match = COMBINED.match(line)
    if match is None:
        raise HitRejected("malformed_line")
    if int(match["status"]) >= 400:
        raise HitRejected("failed_request")
    parts = match["request"].split(" ")
    if len(parts) < 2 or parts[0] != "GET":
        raise HitRejected("not_a_page_load")
    target = parts[1]
    try:
        ts = dt.datetime.strptime(match["time"], "%d/%b/%Y:%H:%M:%S %z").timestamp()
        split = urlsplit(target)
        pairs = parse_qsl(split.query, max_num_fields=100, errors="replace")
    except ValueError:
        raise HitRejected("malformed_line") from None
    params = dict(reversed(pairs))
    referer = _unescape(match["referer"])
    if PAGE_URL_FIELD in params:
        url = params[PAGE_URL_FIELD] or params.get(REFERRER_FIELD) or referer
    elif site:
        if not include_assets and split.path.lower().endswith(ASSET_SUFFIXES):
            raise HitRejected("static_asset")
        url = site.rstrip("/") + target
        pairs = []  # a page's own query is part of its URL, not macros
    else:
        url = params.get(REFERRER_FIELD) or referer
    if not normalize_page_url(url):
        raise HitRejected("no_page_url")
    macros = extract_macros(pairs, _RESERVED)
    return LogEvent(ts, match["ip"], url, _unescape(match["ua"]), macros)


def ingest(
    lines: Iterable[bytes],
    *,
    spool: Spool,
    campaign_id: int,
    site: str | None,
    include_assets: bool = False,
    progress: Callable[[int], None] = lambda _: None,
) -> IngestSummary:
    """Append an event record to ``spool`` for every usable line of ``lines``."""
    summary = IngestSummary()
    for raw in lines:
        summary.lines += 1
        summary.bytes += len(raw)
        progress(len(raw))
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        try:
            event = parse_line(line, site=site, include_assets=include_assets)
        except HitRejected as exc:
            summary.skipped[exc.reason] += 1
            continue
        spool.append(
            event_record(
                ts=event.ts,
                campaign_id=campaign_id,
                url=event.url,
                user_agent=event.user_agent,
                ip=event.ip,
                country=None,
                macros=event.macros,
            )
        )
        summary.spooled += 1
    return summary


def open_log(path: Path, offset: int = 0) -> IO[bytes]:
    """A byte handle on a plain or gzipped log, ``offset`` bytes (uncompressed) in."""
    handle = cast(
        IO[bytes],
        gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb"),  # noqa: SIM115
    )
    handle.seek(offset)
    return handle


class UnreadableLog(ValueError):
    """A log that cannot be read to its end: not a regular file, or a corrupt or truncated
    ``.gz``."""


def check_readable(path: Path) -> None:
    """Raise UnreadableLog unless ``path`` is a regular file and, for a ``.gz`` log,
    decompresses to its end, so that a corrupt archive is refused before any of its lines
    is spooled (and counted without the file being remembered)."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise UnreadableLog(
            f"{path} is not a regular file (a pipe or a device cannot be remembered and "
            "resumed): save the log to a file and ingest that"
        )
    if path.suffix != ".gz":
        return
    try:
        with gzip.open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableLog(f"{path} is not a readable gzip file ({exc})") from None


@dataclass(frozen=True)
class FileIdentity:
    """A log file as ``beacon ingest-log`` remembers it."""

    device: str
    inode: str
    head_bytes: int
    head_sha256: str


class IngestedFile(Protocol):
    head_bytes: int
    head_sha256: str
    byte_offset: int
    lines: int


def identify(path: Path, *, head_bytes: int) -> FileIdentity:
    """Device, inode and the hash of the first ``head_bytes`` bytes of ``path`` as stored."""
    stat = path.stat()
    with path.open("rb") as handle:
        head = handle.read(head_bytes)
    digest = hashlib.sha256(head).hexdigest()
    return FileIdentity(str(stat.st_dev), str(stat.st_ino), len(head), digest)


def resume_point(path: Path, known: IngestedFile | None, *, force: bool) -> tuple[int, int]:
    """(bytes, lines) of ``path`` already ingested: where a re-run starts, or (0, 0) when the
    file is new, was rotated or replaced (its first bytes or size changed), or ``force``."""
    if force or known is None:
        return 0, 0
    if identify(path, head_bytes=known.head_bytes).head_sha256 != known.head_sha256:
        return 0, 0
    if path.suffix != ".gz" and path.stat().st_size < known.byte_offset:
        return 0, 0  # truncated in place (copytruncate): a new log in the same file
    return known.byte_offset, known.lines


def head_length(path: Path, byte_offset: int) -> int:
    """How many first bytes identify ``path`` after reading ``byte_offset`` bytes: those read
    of a growing plain log (later bytes may still change), all of a compressed one."""
    size = path.stat().st_size if path.suffix == ".gz" else byte_offset
    return min(HEAD_BYTES, size)


def _unescape(value: str) -> str:
    # nginx writes \" and \xNN for quotes and non-printable bytes inside quoted fields.
    if "\\" not in value:
        return value
    return re.sub(
        r"\\x([0-9A-Fa-f]{2})|\\(.)", lambda m: chr(int(m[1], 16)) if m[1] else m[2], value
    )
