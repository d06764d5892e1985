"""The spool flusher: sealed segments -> enrichment -> rollup increments, exactly once.

Every `interval` seconds (and on demand, and at shutdown) the consumer seals the open spool
segment and processes every sealed one, oldest first, one segment per transaction. Several
consumers may share a spool (``BEACON_PIXEL_FLUSHERS`` processes per server, or servers
sharing a directory): each segment is claimed by one of them at a time (`Spool.claim`), so
they split the backlog between them instead of racing for the same segments.

1. its id (file name + content hash) is looked up in `pixel_spool_segments`; a segment
   already there was committed before a crash and is only deleted (replay adds nothing);
2. its records are enriched (`HitEnricher`) and counted in memory per `RollupKey`, so memory
   is bounded by one segment (the spool seals at `pixel_segment_max_bytes`);
3. records of campaigns that do not exist are rejected (`unknown_campaign`);
4. the segment id and all the increments commit in ONE transaction; a concurrent flusher of
   the same segment (several processes sharing a spool directory) loses on the primary key
   and rolls back, so counts are exact, not "at least once";
5. the file is deleted.

When the database refuses a value of the segment (a `DataError` or `IntegrityError`: no
retry would pass), the hits behind the refused rollup keys are found by bisection in
savepoints of the segment's transaction (`refusals`, bounded), written with the database's
reason to `<spool>/quarantine/<segment>.refused.jsonl` (as ``.partial`` before the commit,
renamed after it: a crash in between is settled at the next start, `settle_refused`) and
counted as rejected (``quarantined``, `beacon_pixel_quarantined_hits_total`); the other hits
and the segment id commit together as above, so they count exactly once. A segment whose
flush fails with any other database error or a file-system error stays for a retry (the
database may be back at the next flush); one that fails with any other exception is poison
(a record the enrichment cannot handle would fail every retry and block the segments behind
it), so it is moved to `<spool>/quarantine/` for a person to look at, counted in
`beacon_pixel_segments_quarantined_total`, and the flush goes on with the next one.

The thread also publishes the backlog to the collector, which turns hits away (503) above
`max_backlog_bytes`: the spool is on disk, so memory stays flat, and disk is bounded too.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from beacon.core.db import Database
from beacon.core.timefmt import utcnow
from beacon.pixel import collector_repository as repository
from beacon.pixel import refusals, viewability
from beacon.pixel.collector import PixelCollector
from beacon.pixel.enrich import HitRejected
from beacon.pixel.hits import HitEnricher
from beacon.pixel.metrics import FlushMetrics
from beacon.pixel.profiling import profiled
from beacon.pixel.rollups import increment
from beacon.pixel.spool import Spool, read_segment, segment_id
from beacon.pixel.tally import FlushResult, Tally

log = logging.getLogger("beacon.pixel.consumer")

SEGMENT_MEMORY = timedelta(days=30)
_PRUNE_EVERY = 3600.0


class CampaignIds:
    """Which campaign ids exist: a positive cache, asked of the database on a miss."""

    def __init__(self, db: Database, *, ttl: float = 60.0) -> None:
        self._db = db
        self._ttl = ttl
        self._known: set[int] = set()
        self._since = time.monotonic()

    def existing(self, ids: set[int]) -> set[int]:
        """The subset of ``ids`` that are registered campaigns."""
        if time.monotonic() - self._since > self._ttl:
            self.forget()  # campaigns can disappear (account deleted)
        missing = ids - self._known
        if missing:
            with self._db.transaction() as session:
                self._known |= repository.existing_campaign_ids(session, missing)
        return ids & self._known

    def forget(self) -> None:
        """Drop the cache."""
        self._known = set()
        self._since = time.monotonic()


class SpoolConsumer:
    """Flushes a spool into the pixel rollups: a thread of `beacon serve`'s flusher processes
    (``flusher.py``); the server flushes with one too when it stops."""

    def __init__(
        self,
        *,
        db: Database,
        spool: Spool,
        enricher: HitEnricher,
        metrics: FlushMetrics,
        collector: PixelCollector | None = None,
        interval: float = 1.0,
        fsync: bool = True,
        max_backlog_bytes: int = 2 * 1024**3,
        profile_dir: Path | None = None,
    ) -> None:
        self.db = db
        self.spool = spool
        self.enricher = enricher
        self.metrics = metrics
        self.collector = collector
        self.interval = interval
        self.fsync = fsync
        self.max_backlog_bytes = max_backlog_bytes
        self.profile_dir = profile_dir
        self.campaigns = CampaignIds(db)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pruned_at = 0.0

    def start(self) -> None:
        """Run the flush loop in a daemon thread; sealed segments left over are replayed first,
        and the refused hits a flusher left unsettled are settled before (`settle_refused`)."""
        try:
            self.settle_refused()
        except (SQLAlchemyError, OSError):
            log.exception("settling the refused hits left in the spool's quarantine failed")
        self._thread = threading.Thread(target=self._run, name="pixel-consumer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> FlushResult:
        """Stop the loop, then seal and flush everything still in the spool."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        return self.flush(final=True)

    def flush(self, *, final: bool = False) -> FlushResult:
        """Seal the open segment and flush every sealed segment now.

        A segment another flusher is working on is skipped, or with ``final`` (at shutdown)
        waited for and taken over if that flusher let go of it without counting it: then,
        once this returns, every segment sealed before the call is counted, unless a flush
        failed (the segment stays for a retry)."""
        with self._lock:
            self.seal()
            result = FlushResult()
            for path in self.spool.sealed_segments():
                with self.spool.claim(path, wait=math.inf if final else 0.0) as claimed:
                    if claimed:
                        result.add(self.process_segment(path))
                self.publish_backlog()
            self.publish_backlog()
            return result

    def flush_segments(
        self,
        paths: Iterable[Path],
        *,
        wait: float = 0.0,
        on_wait: Callable[[], object] = lambda: None,
    ) -> FlushResult:
        """Count these sealed segments now. One another flusher holds is waited for, up to
        ``wait`` seconds for all of them together (``on_wait`` is called when a first wait
        starts), then left to it; one it counted and deleted meanwhile is skipped (its
        counts are in `pixel_spool_segments`)."""
        deadline = time.monotonic() + wait
        waited = False

        def waiting() -> None:
            nonlocal waited
            if not waited:
                waited = True
                on_wait()

        result = FlushResult()
        for path in paths:
            left = max(deadline - time.monotonic(), 0.0)
            with self.spool.claim(path, wait=left, on_wait=waiting) as claimed:
                if claimed:
                    result.add(self.process_segment(path))
        return result

    def process_segment(self, path: Path) -> FlushResult:
        """Count one sealed segment into the rollups exactly once, then delete it."""
        started = time.perf_counter()
        try:
            segment = segment_id(path)
        except FileNotFoundError:
            return FlushResult()  # another process flushed and deleted it meanwhile
        try:
            with gc_paused():
                result = self._count(path, segment)
        except (SQLAlchemyError, OSError):
            log.exception("flushing spool segment %s failed; will retry", path.name)
            self.metrics.flush_errors.inc()
            self.campaigns.forget()  # e.g. a campaign deleted since it was cached
            return FlushResult(failed=1)
        except Exception:
            log.exception("spool segment %s cannot be flushed; quarantined", path.name)
            self.spool.quarantine(path)
            self.metrics.segments_quarantined.inc()
            return FlushResult(quarantined=1)
        self.spool.mark_done(path)
        self.metrics.segments.inc()
        self.metrics.flushed.inc(result.counted)
        for reason, count in result.rejected.items():
            self.metrics.reject(reason, count)
        if result.rejected[refusals.QUARANTINED]:
            self.metrics.hits_quarantined.inc(result.rejected[refusals.QUARANTINED])
        self.metrics.flush_seconds.observe(time.perf_counter() - started)
        return result

    def _count(self, path: Path, segment_id: str) -> FlushResult:
        with self.db.transaction() as session:
            if repository.is_segment_processed(session, segment_id):
                self._promote_refused(path)
                return FlushResult(segments=1)
        # Not counted: refused hits an earlier try set aside belong to no count (that try's
        # commit failed), and this try decides afresh what the database refuses.
        self.spool.refused_partial(path).unlink(missing_ok=True)
        tally = self._tally(path)
        try:
            return self._write(segment_id, tally)
        except SQLAlchemyError as exc:
            if self._processed(segment_id):
                return FlushResult(segments=1)  # a concurrent flusher committed it first
            if not refusals.is_refusal(exc):
                raise  # an outage: the segment stays for a retry
        try:
            return self._write_refusing(path, segment_id, tally)
        except SQLAlchemyError:
            if self._processed(segment_id):
                self._promote_refused(path)
                return FlushResult(segments=1)
            raise

    def _promote_refused(self, path: Path) -> None:
        """The refused hits of a segment found counted, set aside by a flusher that died
        before it could promote them."""
        partial = self.spool.refused_partial(path)
        if partial.exists():
            self.spool.promote(partial)

    def _tally(self, path: Path) -> Tally:
        tally = Tally()
        counts, rejected, views, units = tally.counts, tally.rejected, tally.views, tally.units
        count_key = self.enricher.count_key
        for record in read_segment(path):
            try:
                tag = viewability.tag_fields(record)
                if tag is not None and tag.event is not None:
                    views.add(tag)  # a viewability event, not a hit
                    units.append((tag.campaign_id, tag.impression_id))
                    continue
                key = count_key(record)
                counts[key] += 1
                units.append(key)
                if tag is not None:
                    views.add(tag, key)
            except HitRejected as exc:
                rejected[exc.reason] += 1
                units.append(None)
        self._keep_known_campaigns(tally)
        return tally

    def _keep_known_campaigns(self, tally: Tally) -> None:
        counts, views = tally.counts, tally.views
        known = self.campaigns.existing({key.campaign_id for key in counts} | views.campaign_ids())
        views.keep_campaigns(known)
        for key in [key for key in counts if key.campaign_id not in known]:
            tally.rejected["unknown_campaign"] += counts.pop(key)

    def _write(self, segment_id: str, tally: Tally) -> FlushResult:
        counted = tally.counts.total()
        with self.db.transaction() as session:
            repository.record_segment(
                session, segment_id=segment_id, hits=counted, rejected=tally.rejected.total()
            )
            increment(session, tally.counts)
            viewability.record(session, tally.views)
        return FlushResult(counted=counted, rejected=tally.rejected, segments=1)

    def _write_refusing(self, path: Path, segment_id: str, tally: Tally) -> FlushResult:
        """Count the segment without the hits the database refuses (`refusals.count_refusing`).
        The segment is acknowledged as usual."""
        self.campaigns.forget()  # a foreign key refused: a campaign deleted since it was cached
        self._keep_known_campaigns(tally)
        counted = refusals.count_refusing(
            db=self.db,
            spool=self.spool,
            path=path,
            segment_id=segment_id,
            tally=tally,
            processed=self._processed,
        )
        return FlushResult(counted=counted, rejected=tally.rejected, segments=1)

    def settle_refused(self) -> list[Path]:
        """Settle the set-aside files of refused hits a flusher left without knowing whether
        their segment committed (`Spool.reconcile_refused`); the files promoted."""
        return self.spool.reconcile_refused(self._processed)

    def _processed(self, segment_id: str) -> bool:
        with self.db.transaction() as session:
            return repository.is_segment_processed(session, segment_id)

    def _run(self) -> None:
        profiled(self.profile_dir, self._loop)

    def _loop(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.flush()
                self._prune()
            except Exception:
                log.exception("pixel spool flush failed")

    def seal(self) -> None:
        """Seal the spool's open segment (fsynced, off the spool's lock)."""
        sealed = self.spool.seal()
        if sealed is not None and self.fsync:
            # Sealing happens under the spool's lock, which appends wait on; syncing here,
            # after it is released, keeps the disk flush off the hot path.
            _fsync_file(sealed)

    def publish_backlog(self) -> None:
        """Tell the collector whether the backlog is over its cap (it then answers 503)."""
        if self.collector is not None:
            self.collector.overloaded = self.spool.backlog_bytes() > self.max_backlog_bytes

    def _prune(self) -> None:
        now = time.monotonic()
        if now - self._pruned_at < _PRUNE_EVERY:
            return
        self._pruned_at = now
        with self.db.transaction() as session:
            repository.prune_segments(session, before=utcnow() - SEGMENT_MEMORY)
            viewability.prune(session, now=utcnow())


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a segment is counted; as it was again afterwards.

    Counting a segment allocates a few objects per hit (keys, counters, row tuples) that live
    until its transaction commits, so the collector's young generations fill many times a
    segment and promote them, and the full collections that follow walk every entry of the
    enrichment caches and the invalid-traffic classifier too: about a fifth of the flusher's
    CPU at 50,000 distinct URLs (docs/benchmarks.md, "Flusher CPU per hit, session 8"). The
    segment's objects are freed by reference counting when it ends (none of them form
    cycles), so pausing costs no memory beyond one segment's, which is bounded anyway. The
    flusher processes run nothing else; the server flushes with a consumer only as it stops.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _fsync_file(path: Path) -> None:
    try:
        with path.open("rb") as segment:
            os.fsync(segment.fileno())
    except FileNotFoundError:
        return
