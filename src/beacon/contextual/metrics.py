"""Prometheus metrics of the classifier child process (``process.py``), read at scrape time
from its counters and registered in the app's registry while the server runs it."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from beacon.contextual.process import ClassifierProcess


class ClassifierCollector(Collector):
    """``beacon_classifier_*``: the child's state, its starts and deaths, its calls and the
    pages they fetched and classified, by outcome."""

    def __init__(self, child: ClassifierProcess) -> None:
        self.child = child

    def collect(self) -> Iterator[Metric]:
        stats = self.child.stats()
        yield GaugeMetricFamily(
            "beacon_classifier_process_up",
            "1 while the classifier child process runs (it starts on the first page).",
            value=1 if self.child.running else 0,
        )
        yield CounterMetricFamily(
            "beacon_classifier_process_starts",
            "Classifier child processes started: the first, and each replacement.",
            value=stats.starts,
        )
        yield CounterMetricFamily(
            "beacon_classifier_process_deaths",
            "Classifier child processes that died, or were killed for not answering, while the "
            "server ran (replaced on the next call; the pages of that call count as lost).",
            value=stats.deaths,
        )
        pages = CounterMetricFamily(
            "beacon_classifier_pages",
            "Pages sent to the classifier child, by outcome: classified, failed (fetch or "
            "page error, in the result), lost (the child died with them, or was killed for not "
            "answering in time).",
            labels=["outcome"],
        )
        for outcome, count in sorted(stats.pages.items()):
            pages.add_metric([outcome], count)
        yield pages
        yield SummaryMetricFamily(
            "beacon_classifier_call_seconds",
            "Wall time of the worker's calls to the child (fetching and classifying a call's "
            "pages, waiting for the child included).",
            count_value=stats.calls,
            sum_value=stats.call_seconds,
        )
