"""Prometheus metrics of the pixel collector and its spool flusher, served at `/metrics`.

They live in the app's registry (``core.metrics``), or in one of their own in a process that
serves no app (a flusher relays its counts to its server's).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from prometheus_client import Counter, Gauge, Histogram

from beacon.core.metrics import CollectorRegistry, new_registry

__all__ = ["FlushMetrics", "PixelMetrics"]


class _Incrementing(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class _Observing(Protocol):
    def observe(self, amount: float) -> None: ...


class FlushMetrics(Protocol):
    """What the spool consumer records: `PixelMetrics`, or a relay to the server's."""

    @property
    def flushed(self) -> _Incrementing: ...

    @property
    def segments(self) -> _Incrementing: ...

    @property
    def flush_errors(self) -> _Incrementing: ...

    @property
    def segments_quarantined(self) -> _Incrementing: ...

    @property
    def hits_quarantined(self) -> _Incrementing: ...

    @property
    def flush_seconds(self) -> _Observing: ...

    def reject(self, reason: str, count: int = 1) -> None: ...


class PixelMetrics:
    """Counters and gauges of one collector process."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else new_registry()
        self.accepted = Counter(
            "beacon_pixel_hits_accepted",
            "Hits appended to the spool, by source (gif, beacon, event).",
            ["source"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "beacon_pixel_hits_rejected",
            "Hits answered but not counted, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.flushed = Counter(
            "beacon_pixel_hits_flushed",
            "Hits counted into the rollups.",
            registry=self.registry,
        )
        self.segments = Counter(
            "beacon_pixel_segments_flushed",
            "Spool segments flushed (including ones found already flushed on replay).",
            registry=self.registry,
        )
        self.flush_errors = Counter(
            "beacon_pixel_flush_errors",
            "Segment flushes that failed and will be retried.",
            registry=self.registry,
        )
        self.segments_quarantined = Counter(
            "beacon_pixel_segments_quarantined",
            "Spool segments that failed with an unexpected error, moved to the spool's "
            "quarantine/ directory and not counted.",
            registry=self.registry,
        )
        self.hits_quarantined = Counter(
            "beacon_pixel_quarantined_hits",
            "Spool records the database refused (a value it cannot store), written with its "
            "reason to the spool's quarantine/ directory and not counted; the rest of their "
            "segment is.",
            registry=self.registry,
        )
        self.flusher_restarts = Counter(
            "beacon_pixel_flusher_restarts",
            "Times the flusher process died and the server started a new one.",
            registry=self.registry,
        )
        self.backlog = Gauge(
            "beacon_pixel_spool_backlog_bytes",
            "Bytes in the spool not yet flushed into the rollups.",
            registry=self.registry,
        )
        self.flush_seconds = Histogram(
            "beacon_pixel_flush_seconds",
            "Time to enrich, aggregate and commit one spool segment.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.gif_accepted = self.accepted.labels("gif")
        self.beacon_accepted = self.accepted.labels("beacon")
        self.event_accepted = self.accepted.labels("event")

    def reject(self, reason: str, count: int = 1) -> None:
        """Count ``count`` rejected hits under ``reason``."""
        self.rejected.labels(reason).inc(count)

    def watch_backlog(self, backlog_bytes: Callable[[], float]) -> None:
        """Read the spool backlog at scrape time."""
        self.backlog.set_function(backlog_bytes)
