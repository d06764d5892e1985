import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from beacon.pixel.spool import Spool, read_segment


def _all_records(spool: Spool) -> list[bytes]:
    return [record for path in spool.sealed_segments() for record in read_segment(path)]


def test_append_then_seal_then_read(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    assert spool.sealed_segments() == []
    spool.append(b'{"hit":1}')
    spool.append(b'{"hit":2}')
    assert spool.sealed_segments() == []  # the open segment is not readable yet
    sealed = spool.seal()
    assert sealed is not None and sealed.suffix == ".seg"
    assert spool.sealed_segments() == [sealed]
    assert list(read_segment(sealed)) == [b'{"hit":1}', b'{"hit":2}']
    assert list(spool.read_segment(sealed)) == [b'{"hit":1}', b'{"hit":2}']
    assert spool.seal() is None  # nothing new to seal


def test_records_must_be_single_lines(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    with pytest.raises(ValueError):
        spool.append(b"two\nlines")
    with pytest.raises(ValueError):
        spool.append(b"carriage\rreturn")


def test_rotation_by_size(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_segment_bytes=100)
    records = [f"record-{i:04d}".encode() * 2 for i in range(20)]  # 23 bytes per line
    for record in records:
        spool.append(record)
    spool.seal()
    segments = spool.sealed_segments()
    assert len(segments) == 5  # four lines fit in 100 bytes
    assert all(path.stat().st_size <= 100 for path in segments)
    assert _all_records(spool) == records  # name order is append order


def test_a_record_larger_than_a_segment_still_gets_written(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_segment_bytes=10)
    spool.append(b"x" * 50)
    spool.append(b"y")
    spool.seal()
    assert _all_records(spool) == [b"x" * 50, b"y"]


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(b"complete-1")
    spool.append(b"complete-2")
    sealed = spool.seal()
    assert sealed is not None
    with sealed.open("ab") as segment:
        segment.write(b'{"half a rec')
    assert list(read_segment(sealed)) == [b"complete-1", b"complete-2"]


def test_mark_done_and_backlog(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_segment_bytes=20)
    for i in range(5):
        spool.append(f"hit-{i}-padding".encode())  # 14 bytes per line: one per segment
    assert spool.backlog_bytes() == 5 * 14
    segments = spool.sealed_segments()
    assert len(segments) == 4
    spool.mark_done(segments[0])
    assert not segments[0].exists()
    assert spool.backlog_bytes() == 4 * 14
    with pytest.raises(ValueError):
        spool.mark_done(next(tmp_path.glob("*.open")))
    with pytest.raises(ValueError):
        spool.mark_done(tmp_path / "elsewhere" / segments[1].name)


def test_close_seals_and_an_empty_segment_leaves_nothing(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(b"a")
    assert [p.suffix for p in tmp_path.iterdir()] == [".seg"]
    Spool(tmp_path).close()
    assert [p.suffix for p in tmp_path.iterdir()] == [".seg"]


CHILD = textwrap.dedent(
    """
    import os, sys, time
    from beacon.pixel.spool import Spool
    spool = Spool(sys.argv[1])
    for i in range(int(sys.argv[2])):
        spool.append(b'{"hit":%d}' % i)
    if sys.argv[3] == "torn":
        path = next(p for p in os.listdir(sys.argv[1]) if p.endswith(".open"))
        fd = os.open(os.path.join(sys.argv[1], path), os.O_WRONLY | os.O_APPEND)
        os.write(fd, b'{"hit":"cut sho')
    print("ready", flush=True)
    time.sleep(60)
    """
)


def _append_then_get_killed(directory: Path, count: int, mode: str) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(directory), str(count), mode],
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            # The child now sleeps holding its open segment: no seal, no close, no flush.
            assert list(directory.glob("*.open"))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL


@pytest.mark.parametrize("mode", ["clean", "torn"])
def test_replay_after_kill_9(tmp_path: Path, mode: str) -> None:
    _append_then_get_killed(tmp_path, 2000, mode)
    spool = Spool(tmp_path)
    assert len(spool.recovered) == 1
    assert not list(tmp_path.glob("*.open"))
    records = _all_records(spool)
    assert records == [b'{"hit":%d}' % i for i in range(2000)]


def test_a_live_writers_segment_is_not_stolen(tmp_path: Path) -> None:
    writer = Spool(tmp_path)
    writer.append(b"still writing")
    other = Spool(tmp_path)  # e.g. a second worker process sharing the directory
    assert other.recovered == []
    assert len(list(tmp_path.glob("*.open"))) == 1
    writer.append(b"more")
    writer.seal()
    assert _all_records(other) == [b"still writing", b"more"]


def test_concurrent_appends_from_threads(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_segment_bytes=4096)
    threads_count, per_thread = 8, 500
    barrier = threading.Barrier(threads_count)

    def work(worker: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            spool.append(f'{{"worker":{worker},"i":{i},"pad":"{"x" * (i % 40)}"}}'.encode())

    threads = [threading.Thread(target=work, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spool.seal()

    records = _all_records(spool)
    assert len(records) == threads_count * per_thread
    seen = Counter((rec.split(b",")[0], rec.split(b",")[1]) for rec in records)
    assert len(seen) == threads_count * per_thread  # every record once, none torn or merged
    assert len(spool.sealed_segments()) > 1
    for worker in range(threads_count):
        mine = [r for r in records if r.startswith(f'{{"worker":{worker},'.encode())]
        assert [int(r.split(b'"i":')[1].split(b",")[0]) for r in mine] == list(range(per_thread))
    assert spool.backlog_bytes() == sum(p.stat().st_size for p in spool.sealed_segments())


def test_segments_are_private_to_the_service_user(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(b"a")
    sealed = spool.seal()
    assert sealed is not None
    assert os.stat(sealed).st_mode & 0o007 == 0


def test_a_claim_waits_for_its_holder_only_so_long(tmp_path: Path) -> None:
    spool = Spool(tmp_path, remember_sealed=True)
    spool.append(b"hit")
    sealed = spool.seal()
    assert sealed is not None
    (remembered,) = spool.sealed_here  # its id, taken while no flusher could delete it
    assert remembered.path == sealed and remembered.segment_id.startswith(f"{sealed.stem}.")
    other = Spool(tmp_path)  # another process's handle, in effect
    holder = contextlib.ExitStack()
    assert holder.enter_context(spool.claim(sealed))
    waits: list[float] = []
    started = time.monotonic()
    with other.claim(sealed, wait=0.3, on_wait=lambda: waits.append(1)) as claimed:
        assert not claimed  # the holder kept it past the wait: it was a blocking flock
    assert 0.3 <= time.monotonic() - started < 2 and waits == [1]
    threading.Timer(0.2, holder.close).start()
    with other.claim(sealed, wait=5) as claimed:
        assert claimed  # taken as soon as the holder let go


def test_quarantined_segments_and_refused_hits_replay_as_sealed_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(b'["gif", 1]')
    spool.append(b'["gif", 2]')
    poison = spool.seal()
    assert poison is not None
    spool.append(b'["gif", 3]')
    refusing = spool.seal()
    assert refusing is not None
    spool.quarantine(poison)
    partial = spool.set_aside(refusing, segment_id="x", refused=[(b'["gif", 3]', "too long")])
    assert spool.quarantined() == [tmp_path / "quarantine" / poison.name]  # not committed yet
    aside = spool.promote(partial)  # committed
    refusing.unlink()
    assert spool.quarantined() == sorted([tmp_path / "quarantine" / poison.name, aside])
    assert spool.sealed_segments() == []

    assert spool.replay(poison.name) == poison  # as it was: the same segment id
    replayed = spool.replay(aside.name, processed=lambda segment: segment == "x")
    assert replayed.suffix == ".seg" and replayed in spool.sealed_segments()
    assert list(read_segment(replayed)) == [b'["gif", 3]']
    assert list(read_segment(poison)) == [b'["gif", 1]', b'["gif", 2]']
    assert spool.quarantined() == []
    with pytest.raises(FileNotFoundError):
        spool.replay(aside.name)
    with pytest.raises(FileNotFoundError):
        spool.replay("../" + replayed.name)  # only what the quarantine holds


def test_refused_hits_settled_by_another_flusher_meanwhile_are_left_to_it(tmp_path: Path) -> None:
    # Every flusher process settles the quarantine as it starts: one that finds the file
    # gone (another promoted it between its look and its rename) raised and logged an error.
    spool = Spool(tmp_path)
    spool.append(b'["gif", 1]')
    sealed = spool.seal()
    assert sealed is not None
    partial = spool.set_aside(sealed, segment_id="x", refused=[(b'["gif", 1]', "too long")])
    sealed.unlink()  # counted and acknowledged

    def promoted_by_another(segment: str) -> bool:
        spool.promote(partial)
        return segment == "x"

    assert spool.reconcile_refused(promoted_by_another) == []
    assert [path.name for path in spool.quarantined()] == [sealed.stem + ".refused.jsonl"]
