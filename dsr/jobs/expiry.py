"""Things that stop being valid with time: unverified requests and answer files.

Both jobs claim their rows (``dsr.jobs.claims``) and change each row's state, so a second
run, here or in another scheduler, finds nothing left to do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import lazyload
from sqlmodel import Session, col

from dsr.jobs.claims import claiming, record
from dsr.models import (
    UNVERIFIED_SQL,
    Export,
    ExportState,
    Request,
    RequestStatus,
    VerificationToken,
)
from dsr.notifications import queue_email_once

log = logging.getLogger(__name__)

#: Rows handled per run; the next run continues, so one run never holds locks for long.
BATCH = 200


def expire_unverified(session: Session, now: datetime, config: Mapping[str, Any]) -> int:
    """Close requests whose subject never proved their email address, and tell them.

    The clock runs from when the service asked for the proof (the request's creation).
    """
    days = config["VERIFICATION_UNVERIFIED_EXPIRY_DAYS"]
    cutoff = now - timedelta(days=days)
    requests = session.scalars(
        claiming(
            session,
            select(Request)
            .options(lazyload(Request.assignee))
            .where(
                # The index's condition word for word, so the database uses it.
                text(UNVERIFIED_SQL),
                Request.status == RequestStatus.unverified,
                col(Request.created_at) <= cutoff,
            )
            .order_by(col(Request.id))
            .limit(BATCH),
            Request,
        )
    ).all()
    for request in requests:
        request.status = RequestStatus.expired
        request.closed_at = now
        request.updated_at = now
        session.add(request)
        session.execute(
            update(VerificationToken)
            .where(
                VerificationToken.request_id == request.id,
                col(VerificationToken.revoked_at).is_(None),
                col(VerificationToken.used_at).is_(None),
            )
            .values(revoked_at=now)
        )
        record(
            session,
            "request.expired",
            request=request,
            reason=f"The email address was not verified within {days} days.",
            payload={"unverified_days": days},
            public=True,
            at=now,
        )
        if request.subject_email:
            queue_email_once(
                session,
                "request_expired",
                request.subject_email,
                dedupe_key=f"request_expired:{request.id}",
                language=request.language,
                context={
                    "reference": request.reference,
                    "days": days,
                    "received_at": request.received_at,
                    "start_url": f"{config['BASE_URL']}/?lang={request.language}",
                },
                request=request,
            )
    return len(requests)


def exports_dir(config: Mapping[str, Any]) -> Path:
    return Path(config["DATA_DIR"]) / "exports"


def delete_export_file(directory: Path, name: str | None) -> None:
    """Remove an answer file, and what a build cut short left of it (``<name>.part``); a
    missing file is fine (a previous run may have got this far)."""
    if not name:
        return
    target = (directory / name).resolve()
    if target.parent != directory.resolve():
        # Never follow a stored name out of the exports directory.
        log.error("export file name %r points outside %s; not deleted", name, directory)
        return
    target.unlink(missing_ok=True)
    target.with_name(target.name + ".part").unlink(missing_ok=True)


def purge_export(session: Session, export: Export, now: datetime, config: Mapping[str, Any]) -> str:
    """Delete an export's file and mark it purged (a ready answer becomes expired).

    The file goes before the commit: if the commit then fails, the row still says the file
    exists, and the next run deletes nothing and marks it again. The other order could leave
    an answer file on disk that no row points at any more.
    """
    before = export.state
    delete_export_file(exports_dir(config), export.path)
    if export.state in (ExportState.ready, ExportState.building):
        export.state = ExportState.expired
    export.path = None
    export.purged_at = now
    session.add(export)
    return before.value


def expire_exports(session: Session, now: datetime, config: Mapping[str, Any]) -> int:
    """Expire answers past ``Export.expires_at``: the link stops working, the file is deleted."""
    exports = session.scalars(
        claiming(
            session,
            select(Export)
            .where(
                col(Export.expires_at) <= now,
                col(Export.purged_at).is_(None),
                Export.state != ExportState.building,
            )
            .order_by(col(Export.id))
            .limit(BATCH),
        )
    ).all()
    for export in exports:
        before = purge_export(session, export, now, config)
        record(
            session,
            "export.expired",
            request=session.get(Request, export.request_id),
            payload={"export_id": export.id, "state_before": before},
            at=now,
        )
    return len(exports)
