"""A journal of hand-overs kept outside the database, so that a crash leaves an unknown outcome
only for the messages that were on the wire (at most one per provider connection).

Each batch run of a provider that cannot tell afterwards what it accepted (SMTP, the SMS API)
appends to its own file under ``<data_dir>/handover``:

- ``C id id ...`` the rows of a chunk, written before the chunk is marked ``injected``;
- ``S id`` a hand-over begins, written before its first byte reaches the provider (SMTP DATA,
  the SMS request);
- ``E id provider-message-id`` the provider accepted it;
- ``N id`` the provider answered and did not take it (a refusal; sending it again is safe).

``C`` and ``S`` records are written at once, one ``write()`` each. An answer (``E``, ``N``)
goes out in the same ``write()`` as the next hand-over's start (on any connection) or at the
close: one system call per message instead of two, on
the thread that drives the connections. Until then a crash leaves that message unknown, as if
it were still on the wire; since a connection's next start carries its previous answer, each
connection still has at most one message unknown at any moment.

A record is in the kernel's page cache once ``write()`` returns, so it survives a ``kill -9``
of the process without an fsync; only a machine crash loses it. The file's first line names
the kernel boot it was written in, and a journal from an earlier boot is not trusted: its
rows get the conservative answer (unknown), never a second send. The writer holds an
exclusive ``flock`` on its file for its lifetime; the kernel drops it when the process dies,
so a worker taking over reads only journals whose writer is gone (a live but slow writer may
still send, so its rows stay unknown too).

Reading, per row a dead worker left ``injected``: accepted in some journal -> sent; claimed by
a trusted journal whose last word on it is not ``S`` -> never handed over, safe to send;
anything else (started without an answer, only in an untrusted journal, in no journal at
all, e.g. written on another host) -> unknown.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from beacon.messaging.providers import Delivery, Outcome, OutgoingMessage

SUFFIX = ".journal"
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str:
    """This kernel boot's id; empty where the platform has none (journals then never trusted)."""
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return ""


def _prefix(execution_id: uuid.UUID, batch_id: int) -> str:
    return f"{execution_id.hex}.{batch_id}."


class HandoverJournal:
    """The journal one batch run appends to (see the module docstring)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd
        # answers written with the next start (module docstring); touched only by the thread
        # that drives the hand-overs
        self._answers: list[bytes] = []

    @classmethod
    def create(cls, directory: Path, *, execution_id: uuid.UUID, batch_id: int) -> HandoverJournal:
        """A new journal, locked for this process's lifetime, its header written."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{_prefix(execution_id, batch_id)}{uuid.uuid4().hex}{SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, f"B {boot_id()}\n".encode())
        return cls(path, fd)

    def claimed(self, ids: Iterable[int]) -> None:
        """Rows about to be marked ``injected`` (called before that commit)."""
        # the claim runs on another thread than the hand-overs: it leaves their answers alone
        os.write(self._fd, ("C " + " ".join(map(str, ids)) + "\n").encode())

    def started(self, message: OutgoingMessage) -> None:
        """The hand-over of ``message`` begins: from here a crash leaves its outcome unknown."""
        self._write(b"S %d\n" % message.recipient_id)

    def finished(self, message: OutgoingMessage, delivery: Delivery) -> None:
        """The provider's answer to a started hand-over (nothing when it is itself unknown);
        it reaches the file with the next start."""
        if delivery.outcome is Outcome.SENT:
            pmid = (delivery.provider_message_id or "").replace("\n", " ").replace("\r", " ")
            self._answers.append(f"E {message.recipient_id} {pmid}\n".encode())
        elif delivery.outcome is not Outcome.UNKNOWN:
            self._answers.append(b"N %d\n" % message.recipient_id)

    def _write(self, record: bytes) -> None:
        if self._answers:
            record = b"".join(self._answers) + record
            self._answers.clear()
        os.write(self._fd, record)

    def close(self, *, keep: bool) -> None:
        """Release the lock; the file goes unless some outcome it records is not in the
        database yet (``keep``), when the worker that takes over needs it."""
        if self._answers:
            self._write(b"")
        if not keep:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)


@dataclass
class JournalFile:
    """What one journal says (only the rows it names)."""

    trusted: bool
    claimed: set[int] = field(default_factory=set)
    last: dict[int, str] = field(default_factory=dict)  # row -> "S", "N" or "E"
    accepted: dict[int, str] = field(default_factory=dict)  # row -> provider message id


def parse(data: bytes, *, boot: str) -> JournalFile:
    """Read a journal's bytes; it is trusted when it was written in ``boot`` and ends whole."""
    lines = data.split(b"\n")
    whole = lines.pop() == b""  # a record is one write(): only a torn file lacks the newline
    header = lines[0].decode(errors="replace") if lines else ""
    found = JournalFile(trusted=whole and bool(boot) and header == f"B {boot}")
    for line in lines[1:]:
        kind, _, rest = line.decode(errors="replace").partition(" ")
        if kind == "C":
            parts = rest.split()
            if all(part.isdigit() for part in parts):
                found.claimed.update(map(int, parts))
            else:
                found.trusted = False
            continue
        number, _, pmid = rest.partition(" ")
        if kind not in ("S", "N", "E") or not number.isdigit():
            found.trusted = False
            continue
        found.last[int(number)] = kind
        if kind == "E":
            found.accepted[int(number)] = pmid
    return found


@dataclass
class Findings:
    """The journals' verdict on the rows a dead worker left ``injected``."""

    accepted: dict[int, str]  # sent according to a journal: record, never send again
    unstarted: set[int]  # their hand-over never began: safe to send


def judge(journals: Sequence[JournalFile], ids: Iterable[int]) -> Findings:
    """Combine every readable journal of a batch (see the module docstring)."""
    accepted: dict[int, str] = {}
    unstarted: set[int] = set()
    for rid in ids:
        said = [j for j in journals if rid in j.claimed or rid in j.last]
        sent = next((j.accepted[rid] for j in said if rid in j.accepted), None)
        if sent is not None:
            accepted[rid] = sent
        elif said and all(j.trusted and j.last.get(rid) != "S" for j in said):
            unstarted.add(rid)
    return Findings(accepted=accepted, unstarted=unstarted)


class DeadJournals:
    """The journals of a batch whose writers are gone, locked while the worker that took the
    batch over settles their rows; ``discard`` once that is committed."""

    def __init__(self, directory: Path, *, execution_id: uuid.UUID, batch_id: int) -> None:
        self._held: list[tuple[Path, int]] = []
        self.journals: list[JournalFile] = []
        if not directory.is_dir():
            return
        boot = boot_id()
        for path in sorted(directory.glob(f"{_prefix(execution_id, batch_id)}*{SUFFIX}")):
            fd = self._lock(path)
            if fd is None:
                continue  # its writer is alive (a stalled worker): its rows stay unknown
            self._held.append((path, fd))
            with open(fd, "rb", closefd=False) as file:
                self.journals.append(parse(file.read(), boot=boot))

    @staticmethod
    def _lock(path: Path) -> int | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def findings(self, ids: Iterable[int]) -> Findings:
        """What the journals say about these rows."""
        return judge(self.journals, ids)

    def discard(self) -> None:
        """Delete the journals (their rows' outcomes are committed) and release them."""
        for path, _ in self._held:
            path.unlink(missing_ok=True)
        self.release()

    def release(self) -> None:
        """Release the locks, keeping the files."""
        for _, fd in self._held:
            os.close(fd)
        self._held = []
