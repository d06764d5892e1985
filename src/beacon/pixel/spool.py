"""Durable append-only spool of accepted hits, between the collector and the database.

Layout: one directory of segment files, one record per line. The segment being written is
`<name>.open`; sealing renames it to `<name>.seg`, and only sealed segments are read and
flushed. Names start with the creation time in nanoseconds, so sorting them is replay order.

Durability: each append is a single `os.write` on an `O_APPEND` descriptor, so once
`append` returns the line is in the kernel's page cache and survives the process being
killed (`kill -9`, OOM). It is not fsynced per hit; a machine crash can lose the unsynced
tail. The flusher fsyncs each segment once it is sealed (`SpoolConsumer.seal`, off the
spool's lock), which bounds that window to the open segment.

Ownership: the open segment holds an exclusive `flock`, which the kernel releases when its
process dies. A new `Spool` seals every leftover `.open` file it can lock, i.e. those of dead
processes, and leaves alone those of live ones, so several workers may share a directory.

Claims: several flushers (processes of one server, or servers sharing the directory) take
sealed segments through `claim`, an exclusive `flock` on the sealed file held while the
segment is counted and deleted, so each segment is processed by one flusher at a time; the
kernel releases the claim of a flusher that dies, and the next one takes the segment over.

Ids: a segment is known to the database by `segment_id` (its name and a hash of its bytes). A
writer that reports on its own hits (`beacon ingest-log`, ``remember_sealed``) takes the id of
each segment it seals while it still holds it, as a flusher may count and delete it at once.

Quarantine: a sealed segment the flusher cannot process (see `consumer`) is moved to
`quarantine/` under the directory, out of the way of the segments behind it; the hits of a
segment that the database refuses (`refusals`) are written there too, one JSON line each with
the database's reason (`set_aside`), while the rest of the segment is counted: first as
`<segment>.refused.jsonl.partial`, renamed to `<segment>.refused.jsonl` (`promote`) once the
segment committed, so a file of refused hits always belongs to a counted segment. A crash in
between leaves the `.partial`, which `reconcile_refused` settles from the database's record.
Files there are created 0640, as the segments are; renames are made durable (directory fsync).

Reading tolerates a torn last line (a write cut short by a crash or a full disk): a line
without its newline is not a record and is skipped.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

OPEN_SUFFIX = ".open"
SEALED_SUFFIX = ".seg"
QUARANTINE_DIR = "quarantine"
REFUSED_SUFFIX = ".refused.jsonl"
PARTIAL_SUFFIX = ".partial"  # written, not yet in place
_CLAIM_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class SealedSegment:
    """A segment a spool handle sealed, with its id taken before any flusher could take it."""

    path: Path
    segment_id: str


def segment_id(path: str | os.PathLike[str]) -> str:
    """The id a processed segment is recorded under: its name and a hash of its bytes."""
    # The name alone could repeat across hosts (same pid in two containers); the content
    # hash makes the id belong to these exact bytes.
    with open(path, "rb") as segment:
        digest = hashlib.file_digest(segment, "blake2b").hexdigest()[:16]
    return f"{Path(path).stem}.{digest}"


class UncountedSegment(Exception):
    """A file of refused hits whose segment is not recorded as counted."""

    def __init__(self, segment_id: str | None) -> None:
        super().__init__(segment_id)
        self.segment_id = segment_id


def refused_segment_id(path: str | os.PathLike[str]) -> str | None:
    """The id of the segment a file of refused hits comes from; None when it has no complete
    first line (cut short by a crash before it was synced: its segment never committed)."""
    with open(path, "rb") as lines:
        first = lines.readline()
    try:
        segment = json.loads(first)["segment"] if first.endswith(b"\n") else None
    except (ValueError, KeyError, TypeError):
        return None
    return segment if isinstance(segment, str) else None


def read_segment(path: str | os.PathLike[str]) -> Iterator[bytes]:
    """The records of a segment in order, without newlines; a torn final line is skipped."""
    with open(path, "rb") as segment:
        for line in segment:
            if line.endswith(b"\n") and len(line) > 1:
                yield line[:-1]


class Spool:
    """An append-only, segment-rotating spool in `directory`; thread-safe."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_segment_bytes: int = 64 * 1024 * 1024,
        remember_sealed: bool = False,
    ) -> None:
        if max_segment_bytes <= 0:
            raise ValueError("max_segment_bytes must be positive")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_segment_bytes = max_segment_bytes
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._seq = 0
        # The segments this handle sealed, for a writer that reports on its own hits (`beacon
        # ingest-log`); off for the server, whose list would only grow.
        self.remember_sealed = remember_sealed
        self.sealed_here: list[SealedSegment] = []
        self.recovered: list[Path] = self._seal_orphans()

    def append(self, record: bytes) -> None:
        """Append one record (a single line without newline); durable against a process kill."""
        if b"\n" in record or b"\r" in record:
            raise ValueError("a spool record must not contain line breaks")
        line = record + b"\n"
        with self._lock:
            if self._fd is not None and self._due(len(line)):
                self._seal_current()
            if self._fd is None:
                self._open_segment()
            assert self._fd is not None
            self._write(self._fd, line)

    def seal(self) -> Path | None:
        """Seal the open segment now (if it holds anything) and return its sealed path."""
        with self._lock:
            return self._seal_current()

    read_segment = staticmethod(read_segment)

    def sealed_segments(self) -> list[Path]:
        """Sealed segments waiting to be flushed, oldest first."""
        return sorted(self.directory.glob(f"*{SEALED_SUFFIX}"))

    @contextmanager
    def claim(
        self,
        path: str | os.PathLike[str],
        *,
        wait: float = 0.0,
        on_wait: Callable[[], object] | None = None,
    ) -> Iterator[bool]:
        """Hold ``path`` exclusively while the block runs; yields False (holding nothing) when
        another flusher holds it for more than ``wait`` seconds (`math.inf`: until it lets
        go; ``on_wait`` is called as the wait starts) or it is gone (flushed and deleted
        meanwhile)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            yield False
            return
        try:
            if not _lock(fd, wait=wait, on_wait=on_wait):
                yield False  # another flusher holds it (or its writer is still sealing it)
                return
            yield _same_file(fd, path)  # not deleted by a flusher between our open and lock
        finally:
            os.close(fd)

    def mark_done(self, path: str | os.PathLike[str]) -> None:
        """Delete a sealed segment whose records are durably stored elsewhere."""
        self._sealed(path).unlink(missing_ok=True)

    def quarantine(self, path: str | os.PathLike[str]) -> Path:
        """Move a sealed segment that cannot be flushed out of the way (`quarantine/`)."""
        segment = self._sealed(path)
        aside = self.directory / QUARANTINE_DIR
        aside.mkdir(exist_ok=True)
        moved = segment.rename(aside / segment.name)
        _fsync_dir(aside)
        return moved

    def set_aside(
        self, path: str | os.PathLike[str], *, segment_id: str, refused: list[tuple[bytes, str]]
    ) -> Path:
        """Write the records of a sealed segment the database refused, each with its reason,
        to `quarantine/<segment>.refused.jsonl.partial` (replacing an earlier try's), synced to
        disk. The flusher commits the segment, then `promote`s it; until then it is not a
        file of refused hits (`reconcile_refused` settles one a crash left between the two)."""
        partial = self.refused_partial(path)
        aside = partial.parent
        aside.mkdir(exist_ok=True)
        partial.unlink(missing_ok=True)
        with _create(partial) as out:
            for record, error in refused:
                line = {
                    "segment": segment_id,
                    "error": error,
                    "record": record.decode(errors="replace"),
                }
                out.write((json.dumps(line, ensure_ascii=False) + "\n").encode())
            out.flush()
            os.fsync(out.fileno())
        _fsync_dir(aside)
        return partial

    def refused_partial(self, path: str | os.PathLike[str]) -> Path:
        """Where `set_aside` writes the refused hits of a sealed segment before its commit."""
        name = self._sealed(path).stem + REFUSED_SUFFIX + PARTIAL_SUFFIX
        return self.directory / QUARANTINE_DIR / name

    def promote(self, partial: Path) -> Path:
        """A `set_aside` file whose segment committed, as the quarantine's file of refused hits."""
        target = partial.with_name(partial.name.removesuffix(PARTIAL_SUFFIX))
        partial.replace(target)
        _fsync_dir(partial.parent)
        return target

    def reconcile_refused(self, processed: Callable[[str], bool]) -> list[Path]:
        """Settle the `set_aside` files a flusher left without knowing whether its segment
        committed (killed between the two, or the commit's answer lost): promoted when
        ``processed`` says the segment is counted, deleted otherwise (the segment is retried,
        and counted whole if the database takes its hits now). One whose segment a flusher
        holds is left to it. Returns the files promoted."""
        promoted: list[Path] = []
        for partial in sorted((self.directory / QUARANTINE_DIR).glob(f"*{PARTIAL_SUFFIX}")):
            if not partial.name.endswith(REFUSED_SUFFIX + PARTIAL_SUFFIX):
                continue
            stem = partial.name.removesuffix(REFUSED_SUFFIX + PARTIAL_SUFFIX)
            with self.claim(self.directory / (stem + SEALED_SUFFIX)) as claimed:
                if not claimed and (self.directory / (stem + SEALED_SUFFIX)).exists():
                    continue  # a flusher is counting the segment: the file is its own
                try:
                    segment = refused_segment_id(partial)
                    if segment is not None and processed(segment):
                        promoted.append(self.promote(partial))
                    else:
                        partial.unlink()
                except FileNotFoundError:
                    continue  # settled meanwhile (its flusher, or another one starting)
        return promoted

    def quarantined(self) -> list[Path]:
        """What the quarantine holds, oldest first: whole segments (``.seg``) and the hits the
        database refused (``.refused.jsonl``)."""
        aside = self.directory / QUARANTINE_DIR
        files = [*aside.glob(f"*{SEALED_SUFFIX}"), *aside.glob(f"*{REFUSED_SUFFIX}")]
        return sorted(files)

    def replay(self, name: str, *, processed: Callable[[str], bool] | None = None) -> Path:
        """Put a quarantined file back into the spool as a sealed segment, for the flusher to
        count: a whole segment as it was, refused hits as a new segment of their records.
        FileNotFoundError when the quarantine holds no such file; FileExistsError when it was
        replayed already and that segment is not counted yet; `UncountedSegment` when
        ``processed`` says the segment of refused hits was never counted (the rest of it was
        not either: replaying them would count them twice once the segment is)."""
        quarantined = self.directory / QUARANTINE_DIR / Path(name).name
        if not quarantined.is_file():
            raise FileNotFoundError(quarantined)
        if quarantined.name.endswith(SEALED_SUFFIX):
            target = self.directory / quarantined.name
            if target.exists():
                raise FileExistsError(target)
            quarantined.rename(target)
            _fsync_dir(self.directory)
            return target
        if not quarantined.name.endswith(REFUSED_SUFFIX):
            raise FileNotFoundError(quarantined)
        target = self.directory / (quarantined.name.removesuffix(REFUSED_SUFFIX) + ".replay.seg")
        if target.exists():
            raise FileExistsError(target)
        segment = refused_segment_id(quarantined)
        if processed is not None and (segment is None or not processed(segment)):
            raise UncountedSegment(segment)
        staged = target.with_suffix(PARTIAL_SUFFIX)  # not a .seg: no flusher reads it half written
        staged.unlink(missing_ok=True)
        with quarantined.open(encoding="utf-8") as lines, _create(staged) as out:
            for line in lines:
                out.write(json.loads(line)["record"].encode() + b"\n")
            out.flush()
            os.fsync(out.fileno())
        staged.rename(target)
        _fsync_dir(self.directory)
        quarantined.unlink()
        _fsync_dir(quarantined.parent)
        return target

    def _sealed(self, path: str | os.PathLike[str]) -> Path:
        segment = Path(path)
        if segment.suffix != SEALED_SUFFIX or segment.parent.resolve() != self.directory.resolve():
            raise ValueError(f"{segment} is not a sealed segment of this spool")
        return segment

    def backlog_bytes(self) -> int:
        """Bytes not yet flushed: every sealed segment plus the open one."""
        with self._lock:
            open_bytes = self._size if self._fd is not None else 0
        total = open_bytes
        for segment in self.sealed_segments():
            try:
                total += segment.stat().st_size
            except FileNotFoundError:
                continue  # flushed and deleted between listing and stat
        return total

    def close(self) -> None:
        """Seal the open segment and release it; the spool can be reopened later."""
        with self._lock:
            self._seal_current()

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _due(self, incoming: int) -> bool:
        return self._size > 0 and self._size + incoming > self.max_segment_bytes

    def _open_segment(self) -> None:
        self._seq += 1
        name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}{OPEN_SUFFIX}"
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL | os.O_CLOEXEC, 0o640)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._fd, self._path, self._size = fd, path, 0

    def _write(self, fd: int, line: bytes) -> None:
        written = 0
        try:
            while written < len(line):
                written += os.write(fd, line[written:])
        except OSError:
            # Cut the partial line off so the next record does not glue onto it.
            if written:
                os.ftruncate(fd, self._size)
            raise
        self._size += written

    def _seal_current(self) -> Path | None:
        fd, path, size = self._fd, self._path, self._size
        if fd is None or path is None:
            return None
        self._fd, self._path, self._size = None, None, 0
        if not size:
            path.unlink(missing_ok=True)
            os.close(fd)
            return None
        sealed = path.with_suffix(SEALED_SUFFIX)
        path.rename(sealed)  # renamed while still locked, so no recovery can race us
        try:
            if self.remember_sealed:  # still locked: no flusher has deleted it yet
                self.sealed_here.append(SealedSegment(sealed, segment_id(sealed)))
        finally:
            os.close(fd)
        return sealed

    def _seal_orphans(self) -> list[Path]:
        recovered: list[Path] = []
        for path in sorted(self.directory.glob(f"*{OPEN_SUFFIX}")):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue  # a live process still writes it
            try:
                if not path.exists():
                    continue  # sealed by its owner between glob and lock
                if os.fstat(fd).st_size == 0:
                    path.unlink()
                    continue
                sealed = path.with_suffix(SEALED_SUFFIX)
                path.rename(sealed)
                recovered.append(sealed)
            finally:
                os.close(fd)
        return recovered


def _lock(fd: int, *, wait: float, on_wait: Callable[[], object] | None) -> bool:
    """Take an exclusive flock on ``fd``, waiting at most ``wait`` seconds for its holder."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        if wait <= 0:
            return False
    if on_wait is not None:
        on_wait()
    if math.isinf(wait):
        fcntl.flock(fd, fcntl.LOCK_EX)
        return True
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(_CLAIM_POLL_SECONDS, left))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            continue
    return False


def _same_file(fd: int, path: str | os.PathLike[str]) -> bool:
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (current.st_dev, current.st_ino) == (opened.st_dev, opened.st_ino)


def _create(path: Path) -> BinaryIO:
    """A new file for writing, readable by the spool's group only, as the segments are: the
    records hold client addresses and user agents."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
    return os.fdopen(fd, "wb")


def _fsync_dir(directory: Path) -> None:
    """Make the renames and new files in ``directory`` durable (its entries are not synced
    with the files)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
