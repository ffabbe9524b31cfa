"""``GET /healthz``: is the database reachable, is the scheduler alive, do the sources answer?"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from dsr import scheduler
from dsr.db import get_db, utcnow
from dsr.profiles import current_profile
from dsr.sources.locate import check_sources

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    body: dict[str, Any] = {"status": "ok"}
    db = get_db()
    try:
        with db.new_session() as session:
            session.execute(text("SELECT 1"))
            stale_after = timedelta(minutes=current_app.config["SCHEDULER_STALE_AFTER_MINUTES"])
            body["scheduler"] = scheduler.status(session, utcnow(), stale_after).as_dict()
        body["database"] = "ok"
    except SQLAlchemyError as exc:
        current_app.logger.error("health check: database unreachable: %s", exc.__class__.__name__)
        body.update(status="unavailable", database="unreachable")
        response = jsonify(body)
        response.status_code = 503
        return response
    if body["scheduler"]["stale"]:
        body["status"] = "degraded"
    # The controller's databases: reported one by one, without details (anyone may read
    # this). They do not change the overall status, which says whether this service can
    # run: a customer database being down is no reason to take dsr out of a load balancer.
    body["sources"] = {
        check.name: check.as_health()
        for check in check_sources(current_profile(), current_app.config["DATA_DIR"])
    }
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response
