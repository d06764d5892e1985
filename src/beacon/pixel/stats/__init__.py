"""Synchronous campaign stats: totals, a daily series and top-N breakdowns read from rollups."""
