"""Page classification in a child process, while the worker shares the server's process.

Classifying a page is CPU-bound: the tokenizers, the lexicon and the heads are Python (the
ONNX encoders release the GIL, the rest does not), and loading the models the first time is
seconds of it. Run by the worker threads of ``beacon serve`` (the embedded default), that
work shares the GIL with the event loop that answers pixel hits and API calls, and every
page classified stalls them: a pixel hit every 10 ms had a p99 of 17 ms and a worst of 302 ms
while 243 pages classified in the server, 7 ms and 14 ms with this child
(``bench/contextual/isolation.py``, docs/benchmarks.md). So, while a server runs its worker in process (``serving`` below), the
worker's fetch-and-classify calls (``service.classify_pages``: the store's periodic
classifier and classification batches) go to one child process instead, as the pixel spool's
flushers do:

- the child is started on the first call (a server that never classifies a page never loads
  the models), runs at nice +10 so hits and API calls come first, and fetches and classifies
  with the same code and limits as in process; results come back over the pool's pipe;
- calls from several worker threads queue for it, each at most a few rounds of fetches
  (``service.CHILD_CALL_ROUNDS``), so a batch of a thousand pages takes turns with the store's
  ticks; a child that died (OOM kill, crash) is noticed at the next call or scrape of
  ``/metrics`` and replaced on the next call, and the call it died in fails like any other job
  error (the store's claim lease and the batch job's retries bring the pages back); a child
  that does not answer a call within its deadline (its fetches' timeouts, plus
  ``seconds_per_page`` a page and ``margin_seconds``) is killed and handled the same way, so a
  stopped or deadlocked child cannot hold every batch and tick behind it;
- a child whose server died (``kill -9``) exits within a second;
- ``POST /v1/clsfy/classify`` (text, or one URL) and the console's classify pages still
  classify in the server: the caller waits for that one page, and it must not queue behind
  the worker's batches in the child;
- what it did is counted (``ClassifierStats``) and exposed at ``/metrics`` by
  ``contextual/metrics.py``.

A standalone worker (``beacon worker``) and the command line classify in their own process:
no hot path shares it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import CancelledError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from beacon.contextual.fetch import FetchSettings, SiteHold
    from beacon.contextual.pages import PageResult

log = logging.getLogger("beacon.contextual")

NICENESS = 10
_PARENT_CHECK_SECONDS = 0.5


class ClassifierUnavailable(RuntimeError):
    """The child process died while it held the call (its pages are not classified)."""


@dataclass(frozen=True, slots=True)
class ClassifierStats:
    """What a ``ClassifierProcess`` has done since it was made (a snapshot)."""

    starts: int = 0  # children started (the first, and each replacement)
    deaths: int = 0  # children that died while the server still needed them
    calls: int = 0  # calls answered, and calls failed by a death
    call_seconds: float = 0.0  # their wall time, queueing for the child included
    pages: dict[str, int] = field(default_factory=dict)  # by outcome: classified, failed, lost


class ClassifierProcess:
    """One child process that fetches and classifies pages for the threads of this one."""

    def __init__(
        self,
        *,
        log_level: str = "INFO",
        seconds_per_page: float = 10.0,
        margin_seconds: float = 60.0,
    ) -> None:
        self.log_level = log_level
        # A call's deadline beyond its fetches' own timeouts: classifying each page (a 2 MB
        # page takes ~3 s of a busy CPU) and starting a child (loading the models).
        self.seconds_per_page = seconds_per_page
        self.margin_seconds = margin_seconds
        self._lock = threading.Lock()
        # One call at a time, so a call's deadline runs while the child works on it, not
        # while it queues behind the other threads' calls.
        self._call_lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False
        # counters, under ``_lock``; ``stats()`` copies them out
        self._starts = self._deaths = self._calls = 0
        self._call_seconds = 0.0
        self._pages = {"classified": 0, "failed": 0, "lost": 0}

    def classify(
        self,
        urls: Sequence[str],
        limits: FetchSettings,
        parallel: int,
        min_confidence: float | None,
        holds: Sequence[SiteHold] = (),
    ) -> list[PageResult]:
        """What ``pages.classify_here`` answers for these arguments, computed in the child,
        which first holds the sites ``holds`` names (the caller's: a redirect into one of them
        is not followed there either)."""
        args = (list(urls), limits, parallel, min_confidence, list(holds))
        started = time.monotonic()
        deadline = self._deadline(urls, limits, parallel)
        with self._call_lock:
            results = self._call(args, pages=len(urls), deadline=deadline, started=started)
        failed = sum(1 for result in results if result.classification is None)
        self._count(started, classified=len(results) - failed, failed=failed)
        return results

    def _deadline(self, urls: Sequence[str], limits: FetchSettings, parallel: int) -> float:
        rounds = math.ceil(len(urls) / max(parallel, 1))
        return (
            rounds * limits.total_timeout
            + len(urls) * self.seconds_per_page
            + (self.margin_seconds)
        )

    def _call(
        self,
        args: tuple[list[str], FetchSettings, int, float | None, list[SiteHold]],
        *,
        pages: int,
        deadline: float,
        started: float,
    ) -> list[PageResult]:
        pool = self._current()
        try:
            try:
                future = pool.submit(_classify_in_child, *args)
            except BrokenProcessPool:  # it died between two calls: a fresh child takes this one
                self._discard(pool)
                pool = self._current()
                future = pool.submit(_classify_in_child, *args)
            return future.result(timeout=deadline)
        except TimeoutError as exc:
            # A child that stopped answering (stopped, deadlocked, stuck on a page) would
            # hold every batch and the store's ticks behind it for good: it is killed, and
            # its pages come back as after a death (the claim lease, the job's retries).
            self._discard(pool, reason=f"did not answer within {deadline:g}s")
            self._count(started, lost=pages)
            raise ClassifierUnavailable(
                f"the classifier process did not answer within {deadline:g}s for {pages} "
                "page(s) and was restarted"
            ) from exc
        except (BrokenProcessPool, CancelledError, RuntimeError) as exc:
            # RuntimeError: submitted to a pool that ``close`` shut down a moment before;
            # CancelledError: ``close`` cancelled the call while it queued for the child.
            if self._closed:
                raise ClassifierUnavailable("the classifier process is stopped") from exc
            if not isinstance(exc, BrokenProcessPool):
                raise
            self._discard(pool)
            self._count(started, lost=pages)
            raise ClassifierUnavailable(
                f"the classifier process died while classifying {pages} page(s)"
            ) from exc

    def stats(self) -> ClassifierStats:
        """What this process has done so far (for ``/metrics`` and tests); a child that died
        since the last call is noticed (and counted) here."""
        self._reap()
        with self._lock:
            return ClassifierStats(
                starts=self._starts,
                deaths=self._deaths,
                calls=self._calls,
                call_seconds=self._call_seconds,
                pages=dict(self._pages),
            )

    @property
    def running(self) -> bool:
        """Whether a child is up now (it starts on the first call)."""
        self._reap()
        return bool(self.pids)

    @property
    def pids(self) -> list[int]:
        """The process id of the child, while it is alive (for operators and tests)."""
        alive = (child.pid for child in _children(self._pool) if child.is_alive())
        return sorted(pid for pid in alive if pid is not None)

    def close(self) -> None:
        """Stop the child; a call still waiting on it fails with ``ClassifierUnavailable``."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            _terminate(pool)

    def _count(self, started: float, **pages: int) -> None:
        with self._lock:
            self._calls += 1
            self._call_seconds += time.monotonic() - started
            for outcome, count in pages.items():
                self._pages[outcome] += count

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise ClassifierUnavailable("the classifier process is stopped")
            if self._pool is None:
                self._starts += 1
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_child,
                    initargs=(os.getpid(), self.log_level),
                )
            return self._pool

    def _reap(self) -> None:
        """Discard a pool whose child died between calls (an OOM kill while idle)."""
        pool = self._pool
        children = _children(pool)
        if pool is not None and children and not any(child.is_alive() for child in children):
            self._discard(pool)

    def _discard(self, pool: ProcessPoolExecutor, *, reason: str = "died") -> None:
        with self._lock:
            if self._pool is not pool:
                return  # another thread noticed first, or ``close`` took it
            self._pool = None
            self._deaths += 1
        log.error("the classifier process %s; the next call starts a new one", reason)
        _terminate(pool)


def _children(pool: ProcessPoolExecutor | None) -> list[multiprocessing.process.BaseProcess]:
    # The executor's own table of its worker processes: the standard library offers no public
    # way to reach the one process a single-worker pool runs.
    return list((getattr(pool, "_processes", None) or {}).values())


def _terminate(pool: ProcessPoolExecutor) -> None:
    processes = _children(pool)
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(5)
            if process.is_alive():  # a stopped process holds SIGTERM until it is continued
                process.kill()
                process.join(5)


_current_child: ClassifierProcess | None = None


def current() -> ClassifierProcess | None:
    """The child process this process's page classification goes to, if any."""
    return _current_child


@contextlib.contextmanager
def serving(*, log_level: str = "INFO") -> Iterator[ClassifierProcess]:
    """While the block runs, ``service.classify_pages`` classifies in a child process."""
    global _current_child
    child = ClassifierProcess(log_level=log_level)
    previous, _current_child = _current_child, child
    try:
        yield child
    finally:
        _current_child = previous
        child.close()


def _start_child(parent_pid: int, log_level: str) -> None:
    """Initializer of the child: lower priority, logging, and exit with the server."""
    from beacon.core.http import configure_logging

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the server, which stops us
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    configure_logging(log_level)
    threading.Thread(
        target=_exit_with_parent, args=(parent_pid,), name="parent-watch", daemon=True
    ).start()


def _exit_with_parent(parent_pid: int) -> None:
    while True:
        time.sleep(_PARENT_CHECK_SECONDS)
        if os.getppid() != parent_pid:
            log.warning("the server is gone; the classifier process stops")
            os._exit(0)


def _classify_in_child(
    urls: list[str],
    limits: FetchSettings,
    parallel: int,
    min_confidence: float | None,
    holds: list[SiteHold],
) -> list[PageResult]:
    from beacon.contextual import fetch, pages

    for hold in holds:
        fetch.adopt_hold(hold)
    return pages.classify_here(urls, limits, parallel, min_confidence)
