"""Wiring of the pixel collector for one process: spool, enrichment, consumer, metrics."""

from __future__ import annotations

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.metrics import CollectorRegistry
from beacon.pixel.collector import PixelCollector
from beacon.pixel.factory import make_consumer, open_spool
from beacon.pixel.flusher import FlusherProcess, SpoolSealer
from beacon.pixel.metrics import PixelMetrics
from beacon.pixel.tally import FlushResult


def build_collector(settings: Settings, registry: CollectorRegistry) -> PixelCollector:
    """The `/px` front app, its metrics in ``registry``; it accepts hits once a pipeline is
    started for it."""
    return PixelCollector(
        metrics=PixelMetrics(registry),
        max_url_bytes=settings.pixel_max_url_bytes,
        max_beacon_bytes=settings.pixel_max_beacon_bytes,
    )


class PixelPipeline:
    """The running collector of an app: started in the lifespan, stopped (and flushed) at exit.

    The spool is flushed by ``pixel_flushers`` child processes (see ``flusher.py``); this
    process only appends, seals, and flushes what is left when it stops.
    """

    def __init__(self, *, settings: Settings, db: Database, collector: PixelCollector) -> None:
        self.settings = settings
        self.collector = collector
        self.spool = open_spool(settings)
        self.consumer = make_consumer(
            settings=settings, db=db, spool=self.spool, collector=collector
        )
        self._sealer: SpoolSealer | None = None
        self._flushers: list[FlusherProcess] = []
        collector.metrics.watch_backlog(self.spool.backlog_bytes)

    def start(self) -> None:
        """Accept hits, and replay then keep flushing the spool in the background (the
        sealer starts the flushers on its first tick)."""
        self.collector.spool = self.spool
        self._flushers = [
            FlusherProcess(self.settings, self.collector.metrics)
            for _ in range(self.settings.pixel_flushers)
        ]
        self._sealer = SpoolSealer(
            self.consumer, self.settings.pixel_flush_interval, self._flushers
        )
        self._sealer.start()

    def flush(self) -> FlushResult:
        """Flush everything spooled so far into the rollups, in this process."""
        return self.consumer.flush()

    def stop(self) -> FlushResult:
        """Stop accepting hits and flush everything."""
        self.collector.spool = None
        if self._sealer is not None:
            self._sealer.stop()
        self.consumer.seal()
        for flusher in self._flushers:
            flusher.ask_to_stop()
        for flusher in self._flushers:
            flusher.stop()  # each flushes what it can claim before it exits
        # whatever they could not (normally nothing); waits for segments still being
        # flushed by another process (e.g. the flusher of a server killed before this one)
        result = self.consumer.flush(final=True)
        self.spool.close()
        self.consumer.enricher.resolver.close()
        return result
