"""Benchmarks: how fast dsr is at scale, measured against a baseline in the same run.

``make bench`` (PostgreSQL, a million requests) and ``make bench-quick`` (SQLite, smaller)
run ``python -m bench`` and write BENCHMARKS.md. Nothing here is imported by the service.
"""
