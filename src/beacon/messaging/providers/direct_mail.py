"""Print files: each chunk becomes a directory with a CSV manifest and one document per piece.

The directory is built under a ``.tmp-`` name and every file written; then the batch is made
durable, renamed into place and the parent fsynced: a print vendor picking up
``<outbox>/<channel>/<execution>/`` only ever sees complete batches, and a batch the vendor
sees survives a power cut.

Durable means every document, the manifest and the directory's entries are on disk before the
rename. On Linux that is one ``syncfs(2)`` of the outbox's filesystem per batch (a single
journal commit, whatever the number of files; a disk takes only a few thousand fsyncs a
second, so one per piece would cap the rate there); elsewhere, or when ``syncfs`` is missing,
every file is fsynced from a thread pool. The directory itself is fsynced after either.

The rename is the hand-off, so after a crash the outbox itself says which pieces were handed
over: a finalised directory's manifest lists them, and a left-over ``.tmp-`` directory was
never handed over (it is removed and its pieces written again). Direct mail always uses this
provider; email and SMS fall back to it when no SMTP server or SMS account is configured.
"""

from __future__ import annotations

import asyncio
import csv
import ctypes
import io
import os
import shutil
import sys
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from beacon.core.csvtext import spreadsheet_safe
from beacon.messaging.providers import (
    Delivery,
    Handover,
    Outcome,
    OutgoingMessage,
    RateLimiter,
)

SUFFIXES = {"direct_mail": ".html", "email": ".eml", "sms": ".txt"}
MANIFEST = "manifest.csv"
TMP_PREFIX = ".tmp-"
# fsync releases the GIL: syncing a chunk's files in parallel lets the disk group the flushes
_FSYNC_THREADS = 16


def _load_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        syncfs: Callable[[int], int] = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    return syncfs


_SYNCFS = _load_syncfs()


def flush_filesystem(directory: Path) -> bool:
    """Flush everything written to ``directory``'s filesystem to disk with one ``syncfs(2)``
    (data, inodes and directory entries; it waits for the journal commit). False where the
    call is unavailable: the caller then fsyncs each file."""
    if _SYNCFS is None:
        return False
    fd = os.open(directory, os.O_RDONLY)
    try:
        if _SYNCFS(fd) != 0:  # ctypes releases the GIL for the call
            error = ctypes.get_errno()
            raise OSError(error, f"syncfs failed: {os.strerror(error)}", str(directory))
    finally:
        os.close(fd)
    return True


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


class PrintFileProvider:
    """Writes chunks of a channel's messages into the outbox directory, atomically."""

    recoverable = True

    def __init__(self, *, channel: str, root: Path, fsync: bool, limiter: RateLimiter) -> None:
        self.channel = channel
        self.root = root / channel
        self.fsync = fsync
        self.limiter = limiter
        self.suffix = SUFFIXES[channel]
        self._pool: ThreadPoolExecutor | None = None

    async def send(
        self,
        messages: Sequence[OutgoingMessage],
        *,
        execution_id: uuid.UUID,
        handover: Handover | None = None,
    ) -> list[Delivery]:
        """Write the chunk as one batch directory; every piece is sent once it is renamed
        (recoverable: the outbox tells after a crash what was handed over, so ``handover``
        is not told)."""
        if not messages:
            return []
        for _ in messages:
            await self.limiter.acquire()
        try:
            # small writes stay on the event loop's thread: a helper thread would have to win
            # the GIL back after every system call; only the slow flushes go to threads
            tmp, files = self._write_files(messages, execution_id)
            if self.fsync:
                await self._make_durable(tmp, files)
            name = self._finalise(tmp)
            if self.fsync:
                await asyncio.to_thread(_fsync_path, tmp.parent)
        except OSError as exc:
            reason = f"cannot write to the outbox {self.root}: {exc}"
            return [Delivery(Outcome.UNREACHABLE, reason=reason) for _ in messages]
        return [
            Delivery.sent(f"{self.channel}/{execution_id}/{name}/{m.recipient_id}{self.suffix}")
            for m in messages
        ]

    async def confirmed(
        self, *, execution_id: uuid.UUID, recipient_ids: Sequence[int]
    ) -> dict[int, str] | None:
        """Which pieces sit in a finalised batch directory; unfinished ones are removed."""
        return await asyncio.to_thread(self._recover, execution_id, recipient_ids)

    async def aclose(self) -> None:
        """Stop the fsync threads."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _write_files(
        self, messages: Sequence[OutgoingMessage], execution_id: uuid.UUID
    ) -> tuple[Path, list[Path]]:
        parent = self.root / str(execution_id)
        parent.mkdir(parents=True, exist_ok=True)
        first, last = messages[0].recipient_id, messages[-1].recipient_id
        tmp = parent / f"{TMP_PREFIX}{first:012d}-{last:012d}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        files = [tmp / f"{m.recipient_id}{self.suffix}" for m in messages]
        for path, message in zip(files, messages, strict=True):
            _write(path, message.body)
        manifest = tmp / MANIFEST
        _write(manifest, self._manifest(messages))
        return tmp, [*files, manifest]

    def _finalise(self, tmp: Path) -> str:
        """Rename the finished directory into place (the hand-off); its final name."""
        first, last = tmp.name[len(TMP_PREFIX) :].split("-")[:2]
        final = tmp.parent / f"{first}-{last}"
        if final.exists():  # only when a previous hand-off of these pieces was lost track of
            final = tmp.parent / f"{final.name}-{tmp.name[-8:]}"
        os.rename(tmp, final)
        return final.name

    def _manifest(self, messages: Sequence[OutgoingMessage]) -> bytes:
        extra = list(messages[0].manifest)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["recipient_id", "contact_id", "document", "to", *extra])
        for m in messages:
            document = f"{m.recipient_id}{self.suffix}"
            row = [str(m.recipient_id), str(m.contact_id), document, m.to]
            cells = [*row, *(m.manifest.get(k, "") for k in extra)]
            # tenants write names and addresses: a print shop opens this file in a spreadsheet
            writer.writerow([spreadsheet_safe(cell) for cell in cells])
        return out.getvalue().encode()

    async def _make_durable(self, tmp: Path, files: list[Path]) -> None:
        """Every file of the batch, and the batch directory, on disk (before the rename)."""
        if not await asyncio.to_thread(flush_filesystem, tmp):
            await self._sync(files)
        await asyncio.to_thread(_fsync_path, tmp)

    async def _sync(self, paths: list[Path]) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(_FSYNC_THREADS, thread_name_prefix="outbox-fsync")
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._pool, _fsync_path, p) for p in paths))

    def _recover(self, execution_id: uuid.UUID, recipient_ids: Sequence[int]) -> dict[int, str]:
        parent = self.root / str(execution_id)
        wanted = set(recipient_ids)
        if not wanted or not parent.is_dir():
            return {}
        low, high = min(wanted), max(wanted)
        found: dict[int, str] = {}
        for entry in parent.iterdir():
            if entry.name.startswith(TMP_PREFIX):
                first, last = (int(x) for x in entry.name[len(TMP_PREFIX) :].split("-")[:2])
                if low <= first and last <= high:  # one of our batch's unfinished hand-offs
                    shutil.rmtree(entry, ignore_errors=True)
                continue
            first, last = (int(x) for x in entry.name.split("-")[:2])
            manifest = entry / MANIFEST
            if last < low or first > high or not manifest.is_file():
                continue
            with manifest.open(newline="") as handle:
                for row in csv.DictReader(handle):
                    recipient_id = int(row["recipient_id"])
                    if recipient_id in wanted:
                        found[recipient_id] = (
                            f"{self.channel}/{execution_id}/{entry.name}/{row['document']}"
                        )
        return found
