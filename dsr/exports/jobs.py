"""The scheduler's job that makes answers: ``build_answers``, polled every few seconds.

Answers are built off the request thread because a large one takes a while. The job claims
one ``building`` row at a time (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write lock on
SQLite), commits the claim, and builds it. Unlike most jobs it commits inside its run, and
that is the point: the claim must be visible to other schedulers before the long work
starts, the progress must reach the staff page while the work goes on (each step renews the
claim, so a living build is never taken over), and each answer's outcome must stand on its
own whatever happens to the next one. A build whose scheduler died is taken again once its
claim has run out, and starts over.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session

from dsr.exports import service
from dsr.jobs.claims import claim_token
from dsr.rights.base import Environment

#: Answers built per run at most; the next run takes the rest.
BATCH = 5


def build_answers(session: Session, now: datetime, config: Mapping[str, Any]) -> int:
    """Build the answers waiting to be made; returns how many were finished (ready or failed)."""
    owner = claim_token()
    env = Environment.for_job(config)
    done = 0
    for _ in range(BATCH):
        export = service.claim_next(session, owner, now)
        if export is None:
            break
        service.build(session, export, env, owner=owner, now=now)
        done += 1
    return done
