"""The print-file outbox makes a batch durable before handing it over: every document, the
manifest and the batch directory reach the disk, then the directory is renamed into place,
then its parent is synced. One ``syncfs`` per batch on Linux; a fsync per file elsewhere."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import pytest

from beacon.messaging.providers import Outcome, OutgoingMessage, RateLimiter, direct_mail
from beacon.messaging.providers.direct_mail import PrintFileProvider

Event = tuple[str, str]


def _pieces(count: int) -> list[OutgoingMessage]:
    return [
        OutgoingMessage(
            recipient_id=100 + i,
            contact_id=uuid.uuid4(),
            to=f"Person {i}, 1 Main St, 12345 Springfield, US",
            body=f"<p>letter {i}</p>".encode(),
            manifest={"name": f"Person {i}", "city": "Springfield"},
        )
        for i in range(count)
    ]


def _send(provider: PrintFileProvider, pieces: list[OutgoingMessage]) -> list[Outcome]:
    async def run() -> list[Outcome]:
        try:
            answers = await provider.send(pieces, execution_id=uuid.UUID(int=7))
        finally:
            await provider.aclose()
        return [a.outcome for a in answers]

    return asyncio.run(run())


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    """Records every sync and the rename, with what the batch directory held at a syncfs."""
    log: list[Event] = []
    real_finalise = PrintFileProvider._finalise

    def syncfs(fd: int) -> int:
        held = sorted(p.name for p in Path(f"/proc/self/fd/{fd}").resolve().iterdir())
        log.append(("syncfs", ",".join(held)))
        return 0

    def fsync_path(path: Path) -> None:
        log.append(("fsync", path.name))

    def finalise(self: PrintFileProvider, tmp: Path) -> str:
        name = real_finalise(self, tmp)
        log.append(("rename", name))
        return name

    monkeypatch.setattr(direct_mail, "_SYNCFS", syncfs)
    monkeypatch.setattr(direct_mail, "_fsync_path", fsync_path)
    monkeypatch.setattr(PrintFileProvider, "_finalise", finalise)
    return log


def _provider(root: Path, *, fsync: bool = True) -> PrintFileProvider:
    return PrintFileProvider(channel="direct_mail", root=root, fsync=fsync, limiter=RateLimiter(0))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="syncfs is Linux only")
def test_one_syncfs_flushes_the_whole_batch_before_the_rename(
    tmp_path: Path, events: list[Event]
) -> None:
    pieces = _pieces(5)
    assert _send(_provider(tmp_path), pieces) == [Outcome.SENT] * 5
    documents = sorted([*(f"{p.recipient_id}.html" for p in pieces), "manifest.csv"])
    batch = "000000000100-000000000104"
    kinds = [kind for kind, _ in events]
    assert kinds == ["syncfs", "fsync", "rename", "fsync"]
    assert events[0] == ("syncfs", ",".join(documents))  # every file written before the flush
    assert events[1][1].startswith(f".tmp-{batch}-")  # then the batch directory's entries
    assert events[2] == ("rename", batch)  # the hand-off
    assert events[3] == ("fsync", str(uuid.UUID(int=7)))  # the parent: the rename is durable
    final = tmp_path / "direct_mail" / str(uuid.UUID(int=7)) / batch
    assert sorted(p.name for p in final.iterdir()) == documents


def test_without_syncfs_every_file_is_fsynced_before_the_rename(
    tmp_path: Path, events: list[Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(direct_mail, "_SYNCFS", None)
    pieces = _pieces(3)
    assert _send(_provider(tmp_path), pieces) == [Outcome.SENT] * 3
    rename = events.index(("rename", "000000000100-000000000102"))
    before = [name for kind, name in events[:rename] if kind == "fsync"]
    documents = {f"{p.recipient_id}.html" for p in pieces} | {"manifest.csv"}
    assert set(before[:-1]) == documents and len(before) == len(documents) + 1
    assert before[-1].startswith(".tmp-")  # the directory, after its files
    assert events[rename + 1 :] == [("fsync", str(uuid.UUID(int=7)))]


def test_a_failed_flush_hands_nothing_over(
    tmp_path: Path, events: list[Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(direct_mail, "_SYNCFS", lambda fd: -1)
    assert _send(_provider(tmp_path), _pieces(2)) == [Outcome.UNREACHABLE] * 2
    assert not any(kind == "rename" for kind, _ in events)
    parent = tmp_path / "direct_mail" / str(uuid.UUID(int=7))
    # only the unfinished directory is left, which recovery removes and writes again
    assert [p.name[:5] for p in parent.iterdir()] == [".tmp-"]


def test_no_sync_when_fsync_is_off(tmp_path: Path, events: list[Event]) -> None:
    assert _send(_provider(tmp_path, fsync=False), _pieces(2)) == [Outcome.SENT] * 2
    assert events == [("rename", "000000000100-000000000101")]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="syncfs is Linux only")
def test_syncfs_is_available_on_linux(tmp_path: Path) -> None:
    assert direct_mail.flush_filesystem(tmp_path) is True
