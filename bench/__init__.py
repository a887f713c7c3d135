"""Benchmarks against the real local stack: ``make bench`` (``python -m bench``)."""
