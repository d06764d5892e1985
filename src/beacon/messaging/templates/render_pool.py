"""Tenant templates rendered in a pool of worker processes with hard limits.

A template is code written by a tenant. Checks between calls (``rendering``) cannot stop one
C-level call that allocates 300 MB or runs for a minute, so every render happens in a child
process that the kernel limits and the parent may kill:

- each child sets ``RLIMIT_AS`` to its own baseline + ``MEMORY_HEADROOM`` (128 MiB): an
  allocation past it fails (``MemoryError``) and the child reports it and exits;
- before each message the child arms ``RLIMIT_CPU`` at ``CPU_SECONDS`` past the CPU time it
  has used (whole seconds: each render gets between 1 and 2 s of CPU): past it the kernel's
  SIGXCPU ends the process;
- the parent kills a child that gives no answer for ``WALL_SECONDS`` (2.2 s, so that an API
  caller has its answer, request handling included, within 2.5 s);
- children run in sessions of their own (with the kernel's autogroup scheduling, each its own
  scheduling group, so the CPU it burns is not charged to the server's group) at nice 10
  within it; a child whose call has used more than ``DEMOTE_CPU_SECONDS`` of CPU (0.1 s: an
  ordinary chunk of 100 messages uses about 0.01 s) is demoted by the parent to autogroup
  nice 10 for the rest of its life (replacing it instead made a loaded machine spawn
  processes while callers waited), so a hostile render takes CPU from other renders, not
  from the API, while ordinary sends render at the group weight of any other process (a
  group at nice 10 gets a tenth of the CPU of one at 0: under load, ordinary renders starved).

A dead child is replaced; the caller gets a ``RenderLimitExceeded`` ("template exceeded its
time/memory limit"). Children come from the 'forkserver' context (a clean single-threaded
process), never a fork of the threaded server. When every child is busy rendering for
``BUSY_WAIT_SECONDS``, an interactive call answers 503 (``RendererBusy``) instead of queueing;
a child being started is waited for, and its start does not count against the wall limit.

One call renders one template for many contacts (a whole chunk of a send): the child compiles
a template once and keeps it in a small cache keyed by the hash of its content. A send's call
carries an ``Envelope``, and then the child answers each email as its finished MIME bytes
(``mime``), built where the parts are.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import queue
import resource
import signal
import sys
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from typing import Any

from beacon.core.errors import ServiceUnavailable
from beacon.messaging.templates.mime import EmailBuilder, Envelope
from beacon.messaging.templates.rendering import (
    CompiledMessage,
    RenderError,
    RenderLimitExceeded,
    contact_context,
)

log = logging.getLogger("beacon.messaging.render_pool")
warnings.filterwarnings(
    "ignore", message=".* found in sys.modules after import of package", category=RuntimeWarning
)

DEFAULT_PROCESSES = 4
CPU_SECONDS = 2
WALL_SECONDS = 2.2  # the parent's kill, early enough that an API caller has its 422 within 2.5 s
MEMORY_HEADROOM = 128 * 1024 * 1024
BUSY_WAIT_SECONDS = 1.0
SPAWN_TIMEOUT_SECONDS = 30.0
NICENESS = 10
DEMOTE_CPU_SECONDS = 0.1  # CPU one call may use before its process's group drops to NICENESS
WATCH_SECONDS = 0.05  # how often the parent reads the CPU time of a child still working
CACHE_SIZE = 32
FLUSH_SECONDS = 0.02  # a child sends what it rendered at least this often during a long call
EXIT_MEMORY = 86  # a child's exit code after running out of address space

Item = tuple[Mapping[str, Any], str | None]  # a contact in wire form, its unsubscribe link
Rendered = dict[str, str | None]
Result = Rendered | RenderError
Answer = Rendered | bytes | RenderError  # bytes: an email built for an Envelope


class RendererBusy(ServiceUnavailable):
    """Every render process stayed busy for ``BUSY_WAIT_SECONDS``: 503 with Retry-After."""

    code = "RENDERER_BUSY"

    def __init__(self) -> None:
        super().__init__(
            "Every template renderer is busy; retry in a second",
            headers={"Retry-After": "1"},
        )


class RendererClosed(ServiceUnavailable):
    """The pool was shut down (the server is stopping)."""

    code = "RENDERER_CLOSED"

    def __init__(self) -> None:
        super().__init__("The template renderer is shutting down", headers={"Retry-After": "5"})


# --- the child ------------------------------------------------------------------------------


def _address_space() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


_armed = [-1]  # the soft RLIMIT_CPU this process set last


def _arm_cpu(seconds: int) -> None:
    # the limit only moves once per second of CPU used: most messages need no setrlimit
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime) + seconds
    if soft != _armed[0]:
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
        _armed[0] = soft


def _deprioritise() -> None:
    """A session of its own: with the kernel's autogroup scheduling (on by default) the CPU a
    render burns is charged to its own group, not to the server's, so the server's requests
    do not queue behind it; and a lower priority within that group (what counts where
    autogroups do not apply). The group itself keeps the default weight until the parent
    demotes it (``_demote``): niced from the start, ordinary renders got a tenth of a busy
    machine's CPU and a send waited on them."""
    os.setsid()
    os.nice(NICENESS)


def _child_main(conn: Connection, headroom: int, cpu_seconds: int) -> None:
    """A render process: limits first, then answer requests until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when children end
    _deprioritise()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGXCPU must not write a core file
    baseline = _address_space()
    resource.setrlimit(resource.RLIMIT_AS, (baseline + headroom, baseline + headroom))
    conn.send(("ready", baseline, baseline + headroom))
    cache: OrderedDict[str, CompiledMessage] = OrderedDict()
    try:
        while True:
            try:
                key, channel, content, items, envelope = conn.recv()
            except EOFError:
                return
            if not _serve(conn, cache, cpu_seconds, key, channel, content, items, envelope):
                os._exit(EXIT_MEMORY)
    except MemoryError:
        os._exit(EXIT_MEMORY)


def _serve(
    conn: Connection,
    cache: OrderedDict[str, CompiledMessage],
    cpu_seconds: int,
    key: str,
    channel: str,
    content: Mapping[str, Any],
    items: Sequence[Item],
    envelope: Envelope | None,
) -> bool:
    """Answer one request; False when the process ran out of memory and must end."""
    _arm_cpu(cpu_seconds)
    compiled = cache.get(key)
    if compiled is None:
        try:
            compiled = CompiledMessage(channel=channel, content=content)
        except RenderError as exc:
            conn.send(("failed", _error_tuple(exc)))
            return not _out_of_memory(exc)
        cache[key] = compiled
        while len(cache) > CACHE_SIZE:
            cache.popitem(last=False)
    cache.move_to_end(key)
    builder = EmailBuilder(envelope) if envelope is not None else None
    batch: list[Any] = []
    flushed = time.monotonic()
    for index, (contact, unsubscribe_url) in enumerate(items):
        _arm_cpu(cpu_seconds)
        try:
            parts = compiled.render(contact_context(contact, unsubscribe_url=unsubscribe_url))
            if builder is not None:
                batch.append(_built(builder, index, contact, parts, unsubscribe_url or ""))
            else:
                batch.append(parts)
        except RenderError as exc:
            batch.append(_error_tuple(exc))
            if _out_of_memory(exc):
                conn.send(("dying", batch))
                return False
        if time.monotonic() - flushed >= FLUSH_SECONDS:
            conn.send(("items", batch))
            batch, flushed = [], time.monotonic()
    conn.send(("done", batch))
    return True


def _built(
    builder: EmailBuilder, index: int, contact: Mapping[str, Any], parts: Rendered, link: str
) -> bytes:
    """An email's MIME bytes; a part that cannot go into a message fails its recipient."""
    try:
        return builder.build(
            parts,
            recipient_id=builder.envelope.recipient_ids[index],
            to=str(contact.get("email") or ""),
            link=link,
        )
    except (ValueError, TypeError, UnicodeError, LookupError) as exc:
        raise RenderError("", f"the message could not be built: {exc}") from None


def _error_tuple(exc: RenderError) -> tuple[str, str, str | None]:
    # exceptions with keyword-only arguments do not survive pickling: send plain values
    if isinstance(exc, RenderLimitExceeded):
        return (exc.part, exc.detail, exc.limit)
    return (exc.part, exc.message, None)


def _out_of_memory(exc: RenderError) -> bool:
    return getattr(exc, "limit", None) == "memory"


# --- the parent -----------------------------------------------------------------------------


def content_key(channel: str, content: Mapping[str, Any]) -> str:
    """The cache key of a template's content."""
    encoded = json.dumps([channel, content], sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()


def _error(value: tuple[str, str, str | None]) -> RenderError:
    part, message, limit = value
    return (
        RenderError(part, message)
        if limit is None
        else RenderLimitExceeded(part, message, limit=limit)
    )


def _killed(limit: str, detail: str) -> RenderLimitExceeded:
    return RenderLimitExceeded("", detail, limit=limit)


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    ready_at: float = 0.0  # monotonic time its start ended (it answered "ready")
    demoted: bool = False  # its group was niced (for good: raising it back needs privilege)


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time a process has used (None when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, IndexError, ValueError):
        return None


def _demote(worker: _Worker) -> None:
    """Drop a child's scheduling group to ``NICENESS`` (raising a nice value needs no
    privilege); it already runs at that nice within the group."""
    worker.demoted = True
    with contextlib.suppress(OSError), open(f"/proc/{worker.process.pid}/autogroup", "w") as group:
        group.write(str(NICENESS))
    log.info("render process demoted", extra={"pid": worker.process.pid})


class RenderPool:
    """Render processes shared by the threads of one server or worker process."""

    def __init__(
        self,
        processes: int = DEFAULT_PROCESSES,
        *,
        wall_seconds: float = WALL_SECONDS,
        cpu_seconds: int = CPU_SECONDS,
        memory_headroom: int = MEMORY_HEADROOM,
        busy_wait_seconds: float = BUSY_WAIT_SECONDS,
        demote_cpu_seconds: float = DEMOTE_CPU_SECONDS,
    ) -> None:
        self.processes = processes
        self.demote_cpu_seconds = demote_cpu_seconds
        self.wall_seconds = wall_seconds
        self.cpu_seconds = cpu_seconds
        self.memory_headroom = memory_headroom
        self.busy_wait_seconds = busy_wait_seconds
        self.replaced = 0  # children killed or dead and replaced (tests, the benchmark)
        self._context = _context()
        self._idle: queue.LifoQueue[_Worker | None] = queue.LifoQueue()
        for _ in range(processes):
            self._idle.put(None)  # a free slot whose process starts on first use
        self._live: set[_Worker] = set()
        self._starting = 0  # free slots taken out of ``_idle`` to start their process
        self._lock = threading.Lock()
        self._closed = False
        self._warmed = False

    @property
    def closed(self) -> bool:
        """True once ``close`` was called."""
        return self._closed

    def pids(self) -> list[int]:
        """Process ids of the live children."""
        with self._lock:
            return [w.process.pid for w in self._live if w.process.pid is not None]

    def render(
        self,
        *,
        channel: str,
        content: Mapping[str, Any],
        items: Sequence[Item],
        wait: bool = False,
        envelope: Envelope | None = None,
    ) -> list[Answer]:
        """Each item's rendered parts (with an ``envelope``, an email channel's finished MIME
        bytes instead) or its RenderError, in order. Raises RenderError when the template
        fails for everyone (a syntax error, a fixed part that fails), and RendererBusy
        (unless ``wait``) or RendererClosed."""
        started = time.monotonic()
        key = content_key(channel, content)
        request = (key, channel, dict(content), list(items), envelope)
        worker = self._checkout(wait=wait)
        self.warm()
        # An interactive call's wall limit counts from the call, queueing behind other renders
        # included, but not the time its process took to start: that is the machine's, and on
        # a loaded one it alone used to pass the limit (a healthy template was reported over
        # its time limit, and its new process killed).
        first = (max(started, worker.ready_at) if not wait else time.monotonic()) + (
            self.wall_seconds
        )
        healthy = False
        try:
            results, failure, healthy = self._exchange(worker, request, len(items), first)
        finally:
            if healthy:
                self._idle.put(worker)
            else:
                self._replace(worker)
        if failure is not None:
            raise failure
        return results

    def warm(self) -> None:
        """Start a process for every free slot, in the background, once (a send calls it as
        it begins, so its first chunks do not wait for processes to start; any render calls
        it too: a server that renders keeps its processes ready, a test that never renders
        starts none)."""
        with self._lock:
            if self._warmed:
                return
            self._warmed = True
        threading.Thread(target=self._warm, name="beacon-render-warm", daemon=True).start()

    def close(self) -> None:
        """Kill every child now (busy ones included); later calls raise RendererClosed."""
        with self._lock:
            self._closed = True
            busy = set(self._live)
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                break
            if worker is not None:
                busy.discard(worker)
                self._discard(worker)
        for worker in busy:  # their callers see the pipe close and clean up
            _kill(worker)

    # --- slots ---

    def _checkout(self, *, wait: bool) -> _Worker:
        """A live process, or a free slot's newly started one; RendererBusy (unless ``wait``)
        when every process stayed busy rendering for ``busy_wait_seconds``. A slot whose
        process is being started is not busy: it is waited for (its start is bounded by
        ``SPAWN_TIMEOUT_SECONDS``), else the first renders on a loaded machine, which find
        the other slots starting, answered "busy" with nothing rendering."""
        deadline = time.monotonic() + self.busy_wait_seconds
        # Waiting for starting slots is bounded too: under a stream of killed templates some
        # slot is always being replaced, and a caller that kept losing the race for it waited
        # with no end (one start is bounded by SPAWN_TIMEOUT_SECONDS).
        patience = deadline + SPAWN_TIMEOUT_SECONDS
        while True:
            if self._closed:
                raise RendererClosed()
            now = time.monotonic()
            remaining = deadline - now
            if not wait and remaining <= 0:
                if not self._starting or now >= patience:
                    raise RendererBusy()
                remaining = 0.25
            try:
                worker = self._idle.get(timeout=0.25 if wait else min(remaining, 0.25))
            except queue.Empty:
                continue
            if worker is not None and worker.process.is_alive() and not self._closed:
                return worker
            if worker is not None:
                self._discard(worker)
            try:
                return self._spawn()
            except BaseException:
                self._idle.put(None)
                raise

    def _spawn(self) -> _Worker:
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(
            target=_child_main,
            args=(child_end, self.memory_headroom, self.cpu_seconds),
            name="beacon-render",
            daemon=True,
        )
        process.start()
        child_end.close()
        worker = _Worker(process, parent_end)
        try:
            if not parent_end.poll(SPAWN_TIMEOUT_SECONDS):
                raise RuntimeError("a template render process did not start")
            _, baseline, limit = parent_end.recv()
            worker.ready_at = time.monotonic()
            log.debug(
                "render process started",
                extra={"pid": process.pid, "baseline": baseline, "address_limit": limit},
            )
        except BaseException:
            self._discard(worker)
            raise
        with self._lock:
            closed = self._closed
            if not closed:
                self._live.add(worker)
        if closed:
            self._discard(worker)
            raise RendererClosed()
        return worker

    def _replace(self, worker: _Worker) -> None:
        """A child that hit a limit (or whose call failed) is killed at once; a thread reaps
        it and starts its replacement, so neither delays the caller."""
        _kill(worker)
        with self._lock:
            self._live.discard(worker)
        self.replaced += 1
        self._hold_for_start()
        try:
            threading.Thread(
                target=self._refill, args=(worker,), name="beacon-render-refill", daemon=True
            ).start()
        except BaseException:
            # No thread to start its process (a server out of threads): the slot goes back
            # free (the next caller starts one) and stops counting as starting, else callers,
            # which wait for a starting slot rather than answer busy, waited for good.
            self._idle.put(None)
            self._hold_for_start(-1)
            raise

    def _refill(self, dead: _Worker | None) -> None:
        """Start a process for a slot held out of ``_idle`` (counted in ``_starting``), then
        hand the slot back before it stops counting (a waiting caller sees one or the other)."""
        worker: _Worker | None = None
        try:
            if dead is not None:
                self._discard(dead)
            if not self._closed:
                try:
                    worker = self._spawn()
                except Exception:  # the slot stays free; the next caller starts a process
                    worker = None
        finally:
            self._idle.put(worker)
            self._hold_for_start(-1)

    def _hold_for_start(self, slots: int = 1) -> None:
        """Count ``slots`` more (or, negative, fewer) free slots as being started."""
        with self._lock:
            self._starting += slots

    def _warm(self) -> None:
        """Start a process for every free slot (after the first render: a server that renders
        keeps its processes ready, a test that never renders starts none)."""
        slots: list[_Worker | None] = []
        while True:
            try:
                slot = self._idle.get_nowait()
            except queue.Empty:
                break
            if slot is None:
                self._hold_for_start()
            slots.append(slot)
        live = [worker for worker in slots if worker is not None]
        for worker in live:
            self._idle.put(worker)
        for _ in range(len(slots) - len(live)):
            self._refill(None)

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            self._live.discard(worker)
        _kill(worker)
        worker.process.join(5)
        worker.conn.close()

    # --- one request ---

    def _exchange(
        self, worker: _Worker, request: tuple[Any, ...], count: int, deadline: float
    ) -> tuple[list[Answer], RenderError | None, bool]:
        """Send a request and collect its answers: (results, whole-call error, healthy). The
        child is killed when ``deadline`` passes, and then ``wall_seconds`` after each answer;
        while it works, its CPU time is read every ``WATCH_SECONDS`` and past
        ``DEMOTE_CPU_SECONDS`` for this call its group is demoted."""
        conn = worker.conn
        results: list[Answer] = []
        started = _cpu_seconds(worker.process.pid)
        try:
            conn.send(request)
            while True:
                # a demoted child is not watched any more: only its deadline wakes the parent
                wake = deadline if worker.demoted else time.monotonic() + WATCH_SECONDS
                if not conn.poll(max(0.0, min(deadline, wake) - time.monotonic())):
                    if time.monotonic() < deadline:
                        self._watch(worker, started)
                        continue
                    _kill(worker)
                    death = _killed("time", f"no answer within {self.wall_seconds} s")
                    return self._fill(results, count, death), None, False
                kind, payload = conn.recv()
                if kind == "failed":
                    error = _error(payload)
                    return [], error, not _out_of_memory(error)
                results.extend(_error(r) if isinstance(r, tuple) else r for r in payload)
                deadline = time.monotonic() + self.wall_seconds
                if kind == "done":
                    return results, None, True
                if kind == "dying":
                    death = _killed("memory", "over the address-space limit")
                    return self._fill(results, count, death), None, False
        except (EOFError, OSError):
            if self._closed:
                raise RendererClosed() from None
            return self._fill(results, count, self._death(worker)), None, False

    def _watch(self, worker: _Worker, started: float | None) -> None:
        if worker.demoted or started is None:
            return
        used = _cpu_seconds(worker.process.pid)
        if used is not None and used - started > self.demote_cpu_seconds:
            _demote(worker)

    @staticmethod
    def _fill(results: list[Answer], count: int, death: RenderLimitExceeded) -> list[Answer]:
        """The contact being rendered when the child died gets ``death``; the ones after it
        are not tried (the template already went past a limit)."""
        missing = count - len(results)
        if missing > 0:
            results.append(death)
            later = RenderLimitExceeded(
                "", "not rendered: an earlier contact's render went past a limit", limit=death.limit
            )
            results.extend([later] * (missing - 1))
        return results

    def _death(self, worker: _Worker) -> RenderLimitExceeded:
        worker.process.join(0.1)  # the exit code says which limit, when it is known at once
        code = worker.process.exitcode
        if code == EXIT_MEMORY:
            return _killed("memory", "over the address-space limit")
        if code == -signal.SIGXCPU:
            return _killed("time", f"over {self.cpu_seconds} s of CPU")
        return _killed("time/memory", f"the render process ended (exit code {code})")


def _kill(worker: _Worker) -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):  # already gone
        worker.process.kill()


def _context() -> ForkServerContext | SpawnContext:
    """'forkserver' where available: children fork from a clean single-threaded server that has
    the renderer imported (fast starts, no copy of the threaded server's state).

    A child re-runs the parent's ``__main__`` module (``python -m beacon.cli``) before it
    starts; preloading that module's imports in the fork server makes this cheap (seconds
    otherwise, per child, on a loaded machine), and the filter below keeps runpy from warning
    that the module is already imported."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        preload = ["beacon.messaging.templates.render_pool"]
        main = getattr(sys.modules.get("__main__"), "__spec__", None)
        if main is not None and main.name and not main.name.endswith("__main__"):
            preload.append(main.name)
        context.set_forkserver_preload(preload)
        return context
    return multiprocessing.get_context("spawn")


# --- the process-wide pool --------------------------------------------------------------------

_shared: RenderPool | None = None
_processes = DEFAULT_PROCESSES
_shared_lock = threading.Lock()


def shared() -> RenderPool:
    """This process's pool (started on first use, and again after a shutdown)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared.closed:
            _shared = RenderPool(_processes)
        return _shared


def shutdown() -> None:
    """Kill every render process of this process's pool."""
    with _shared_lock:
        pool = _shared
    if pool is not None:
        pool.close()


@contextmanager
def running(*, processes: int) -> Iterator[RenderPool]:
    """The pool of a server or worker process: sized by the setting, killed on the way out."""
    global _processes
    with _shared_lock:
        _processes = processes
        if _shared is not None and _shared.processes != processes:
            _shared.close()
    pool = shared()
    threading.Thread(target=_start_fork_server, name="beacon-render-start", daemon=True).start()
    try:
        yield pool
    finally:
        pool.close()


def _start_fork_server() -> None:
    """Start the fork server now (it imports the renderer and the main module, which takes
    seconds on a loaded machine), not in the first render's time."""
    if isinstance(_context(), ForkServerContext):
        from multiprocessing import forkserver

        forkserver.ensure_running()


def render_many(
    *, channel: str, content: Mapping[str, Any], items: Sequence[Item], wait: bool = False
) -> list[Result]:
    """Render a template for many contacts in one child call (see ``RenderPool.render``)."""
    results = shared().render(channel=channel, content=content, items=items, wait=wait)
    return [_attributed(_parts(result), content) for result in results]


def _parts(answer: Answer) -> Result:
    assert not isinstance(answer, bytes), "a call without an envelope answers parts"
    return answer


def _attributed(result: Result, content: Mapping[str, Any]) -> Result:
    """A render process that died (killed past a limit) cannot say which part it was on; when
    only one part holds template code, that part is the one."""
    if not isinstance(result, RenderLimitExceeded) or result.part:
        return result
    coded = [
        part
        for part, source in content.items()
        if isinstance(source, str) and ("{{" in source or "{%" in source)
    ]
    if len(coded) != 1:
        return result
    return RenderLimitExceeded(coded[0], result.detail, limit=result.limit)
