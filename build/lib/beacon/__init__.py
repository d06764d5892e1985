"""Beacon: measurement, contextual classification, activation and messaging in one server."""

__version__ = "0.1.0"
