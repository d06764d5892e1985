"""Background work of the pixel domain: the report job."""

from __future__ import annotations

from functools import partial

from beacon.core.config import Settings
from beacon.core.jobs import JobKind, single_transaction
from beacon.core.retry import RetryStrategy
from beacon.pixel.reports.build import run_report
from beacon.pixel.reports.models import PixelReport


def report_job(settings: Settings) -> JobKind:
    """Campaign and publisher reports: one queue, since both are rows of ``pixel_reports``."""
    return JobKind(
        name="pixel_report",
        model=PixelReport,
        handler=single_transaction(
            partial(
                run_report,
                max_rows=settings.report_max_rows,
                max_urls=settings.report_brand_safety_max_urls,
            )
        ),
        lease_seconds=settings.job_lease_seconds,
        retry=RetryStrategy(max_attempts=settings.job_max_attempts),
    )
