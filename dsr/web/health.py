"""``GET /healthz``: is the database reachable, and is the scheduler alive?"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from dsr import scheduler
from dsr.db import get_db, utcnow

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
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response
