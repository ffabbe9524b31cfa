"""The scheduler's jobs: plain functions ``fn(session, now, config) -> int``.

Each module holds jobs about one concern; ``dsr.scheduler`` lists them with their schedules.
Every job selects the rows that are due, claims them (``dsr.jobs.claims``) so that a second
scheduler never does the same work, and returns how many things it did. Apart from the
outbox, a job never commits: the runner commits once, or rolls back if the job fails.

This package imports nothing at import time on purpose: ``dsr.notifications`` uses
``dsr.jobs.claims``, and the job modules use ``dsr.notifications``.
"""
