"""An erasure killed half-way (SIGKILL, a real process) is finished by the next run.

The subject has thousands of rows. The child process runs the erasure job with batches of
100 rows and freezes right after the source committed its third batch of logins, before
the service recorded it; the test then kills it. The next run resumes: it finds that
batch's rows already gone, erases the rest, and the audit log accounts for every row once.
"""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlmodel import col, select

from dsr import audit
from dsr.audit import Actor
from dsr.db import get_db, utcnow
from dsr.models import AuditEvent, PlanState, RequestPlan, Right
from dsr.rights import service
from dsr.rights.jobs import run_due_erasures
from tests.rights_support import (
    SHOP_PROFILE,
    build_shop,
    rows,
    shop_profile,
    source_url,
    subject_request,
)

LOGINS = 3000
ROOT = Path(__file__).resolve().parent.parent


def wait_for(path: Path, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"the erasure process ended early: {process.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError("the erasure process never reached the point to stop at")
        time.sleep(0.05)


def test_a_killed_erasure_resumes_without_losing_or_repeating_anything(
    make_app, fresh_database, backend, databases, tmp_path
):
    url = source_url(backend, databases, tmp_path, "crash")
    build_shop(url, logins=LOGINS)
    profile_path = tmp_path / "shop.toml"
    profile_path.write_text(SHOP_PROFILE.replace("@URL@", url), encoding="utf-8")
    app = make_app(DATABASE_URL=fresh_database, PROFILE=str(profile_path), ERASURE_BATCH_SIZE=100)
    handler = Actor.system("handler")
    with app.app_context(), get_db(app).transaction() as session:
        request = subject_request(session, Right.erasure, received_at=utcnow() - timedelta(days=2))
        row = service.make_plan(session, request, actor=handler)
        # Approved a day and more ago: the grace period is over.
        service.approve(session, row, actor=handler, now=utcnow() - timedelta(hours=25))
        request_id, plan_id = request.id, row.id

    marker = tmp_path / "frozen"
    # Children first: the newsletter, messages and tickets are one batch each, then the
    # logins; freezing after six source commits is after the third batch of logins.
    with (tmp_path / "child.log").open("wb") as log:
        child = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "erasure_child.py"),
                fresh_database,
                app.config["DATA_DIR"],
                str(profile_path),
                str(marker),
                "6",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(marker, child)
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, (tmp_path / "child.log").read_text()

    # Killed: three batches gone from the source, only two of them on record.
    assert rows(shop_profile(url), "shop", "SELECT count(*) FROM logins WHERE customer_id = 1") == [
        (LOGINS - 300,)
    ]
    with app.app_context(), get_db(app).transaction() as session:
        stuck = session.get(RequestPlan, plan_id)
        assert stuck.state == PlanState.executing
        recorded = [
            e.payload
            for e in session.exec(
                select(AuditEvent).where(
                    AuditEvent.request_id == request_id, AuditEvent.action == "erasure.batch"
                )
            )
        ]
        assert [(b["table"], b["changed"]) for b in recorded] == [
            ("newsletter", 1),
            ("messages", 3),
            ("tickets", 2),
            ("logins", 100),
            ("logins", 100),
        ]
        # Another run right away leaves the crashed run's claim alone...
        assert run_due_erasures(session, utcnow(), app.config) == 0
        # ...and resumes once the claim has run out.
        later = utcnow() + timedelta(minutes=service.CLAIM_MINUTES + 1)
        assert run_due_erasures(session, later, app.config) == 1

    profile = shop_profile(url)
    assert rows(profile, "shop", "SELECT count(*) FROM logins WHERE customer_id = 1") == [(0,)]
    assert rows(profile, "shop", "SELECT count(*) FROM logins WHERE customer_id = 2") == [(1,)]
    assert rows(profile, "shop", "SELECT name FROM customers WHERE id = 1") == [("[anonymiserad]",)]
    assert rows(profile, "shop", "SELECT count(*) FROM payments") == [(3,)]

    with app.app_context(), get_db(app).transaction() as session:
        done = session.get(RequestPlan, plan_id)
        assert done.state == PlanState.executed
        events = session.exec(
            select(AuditEvent)
            .where(AuditEvent.request_id == request_id)
            .order_by(col(AuditEvent.seq))
        ).all()
        story = [e.action for e in events]
        assert story[:3] == ["plan.created", "request.started", "plan.approved"]
        assert "plan.started" in story and "plan.resumed" in story
        assert story.index("plan.started") < story.index("plan.resumed")
        assert story[-1] == "plan.executed"
        logins = [
            e.payload
            for e in events
            if e.action == "erasure.batch" and e.payload["table"] == "logins"
        ]
        # Every login row accounted for exactly once: erased by a recorded batch, or found
        # already gone by the batch that redid the one the crash cut off.
        assert sum(b["planned"] for b in logins) == LOGINS
        assert sum(b["changed"] for b in logins) == LOGINS - 100
        redone = [b for b in logins if b["absent"]]
        assert len(redone) == 1 and redone[0]["absent"] == 100 and redone[0]["changed"] == 0
        resumed = next(e for e in events if e.action == "plan.resumed")
        assert resumed.payload["cursor"] == {"step": 3, "offset": 200}
        erased = {(e["table"], e["action"]): e for e in done.outcome["erased"]}
        assert erased[("logins", "deleted")] == {
            "source": "shop",
            "table": "logins",
            "label": "Logins",
            "action": "deleted",
            "count": LOGINS,
            "changed": LOGINS - 100,
            "already": 100,
        }
        assert audit.verify_chain(session) is None
