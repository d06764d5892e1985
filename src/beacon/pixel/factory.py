"""The parts of the pixel collector a process builds from its settings: its handle on the spool
and the consumer that flushes it (the server's pipeline, a flusher process, `beacon ingest-log`)."""

from __future__ import annotations

from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.pixel.collector import PixelCollector
from beacon.pixel.consumer import SpoolConsumer
from beacon.pixel.geo import CountryResolver
from beacon.pixel.hits import HitEnricher
from beacon.pixel.ivt import detector_from_settings
from beacon.pixel.metrics import FlushMetrics, PixelMetrics
from beacon.pixel.spool import Spool


def open_spool(settings: Settings, *, remember_sealed: bool = False) -> Spool:
    """This process's handle on the (possibly shared) pixel spool directory."""
    # Segments are sealed by size in an append, and otherwise on the sealer's timer.
    return Spool(
        settings.effective_pixel_spool_dir,
        max_segment_bytes=settings.pixel_segment_max_bytes,
        remember_sealed=remember_sealed,
    )


def make_consumer(
    *,
    settings: Settings,
    db: Database,
    spool: Spool,
    collector: PixelCollector | None = None,
    metrics: FlushMetrics | None = None,
) -> SpoolConsumer:
    """A consumer flushing ``spool`` into the rollups of ``db``."""
    resolver = CountryResolver(
        trusted_proxies=settings.trusted_proxy_list, mmdb_path=settings.geoip_mmdb_path
    )
    return SpoolConsumer(
        db=db,
        spool=spool,
        enricher=HitEnricher(resolver, detector_from_settings(settings)),
        metrics=metrics or (collector.metrics if collector else PixelMetrics()),
        collector=collector,
        interval=settings.pixel_flush_interval,
        fsync=settings.pixel_spool_fsync,
        max_backlog_bytes=settings.pixel_spool_max_backlog_bytes,
        profile_dir=settings.pixel_flusher_profile_dir,
    )
