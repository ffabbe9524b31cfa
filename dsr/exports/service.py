"""An answer's life: prepared by staff, built by the scheduler, released, downloaded, purged.

1. **Prepare** (:func:`prepare`): a handler asks for the answer of a request whose plan has
   run; an :class:`~dsr.models.Export` row appears in state ``building``.
2. **Build** (:func:`build`, run by the ``build_answers`` job off the request thread): the
   answer is written as a ZIP (``dsr.exports.bundle``) straight into a sealed file
   (``dsr.exports.sealed``) under ``data_dir/exports``; progress is saved on the row as it
   goes. The row becomes ``ready`` with the plaintext's size and SHA-256, or ``failed`` with
   the reason; a failed answer is prepared again to retry.
3. **Preview and release**: staff read the JSON or PDF from the sealed file
   (:func:`read_member`, logged), then :func:`release` it: the subject is emailed that the
   answer is ready (the status link, nothing else secret) and the link to it works for
   ``exports.link_days``. A newer answer released replaces the older one, whose file is
   purged.
4. **Download**: on the status page the subject asks for a code (:func:`send_download_code`),
   emailed to the request's address; the code (six digits, hashed at rest, valid for
   ``exports.code_minutes``, used once, five wrong tries at most) is what a download needs
   (:func:`check_download_code`); each download is counted and logged
   (:func:`record_download`).
5. **Purge**: ``dsr.jobs.expiry.expire_exports`` deletes the file when the link expires.

Like every service here, these functions never commit; :func:`build` is the exception, as a
job step that saves its progress, and says so.
"""

from __future__ import annotations

import logging
import os
import secrets
import zipfile
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlmodel import Session, col

from dsr import audit, identity, notifications
from dsr.audit import Actor
from dsr.crypto import export_master_key
from dsr.db import utcnow
from dsr.exports import bundle
from dsr.exports.answer import build_answer
from dsr.exports.sealed import SealedWriter, open_sealed
from dsr.identity import CodeCheck
from dsr.jobs.claims import record as record_by_scheduler
from dsr.jobs.expiry import delete_export_file, exports_dir, purge_export
from dsr.models import (
    Export,
    ExportState,
    PlanState,
    Request,
    RequestPlan,
    Right,
    StaffUser,
    TokenPurpose,
    VerificationToken,
)
from dsr.rights.base import Environment, digest
from dsr.workflow import WorkflowError

log = logging.getLogger(__name__)

#: How long a scheduler holds an answer it builds; every progress step renews the claim.
CLAIM_MINUTES = 10
#: Rights whose requests are completed only once their answer was released.
ANSWER_REQUIRED = frozenset({Right.access, Right.portability})
#: The members staff may preview, by the name the pages use.
PREVIEWS = {
    "json": (bundle.JSON_NAME, "application/json"),
    "pdf": (bundle.PDF_NAME, "application/pdf"),
}


def _staff_id(actor: Actor) -> int | None:
    return actor.id if actor.type == "staff" else None


def exports_of(session: Session, request: Request) -> list[Export]:
    """The request's answers, newest first."""
    return list(
        session.scalars(
            select(Export).where(Export.request_id == request.id).order_by(col(Export.id).desc())
        )
    )


def get(session: Session, export_id: int | None) -> Export:
    export = session.get(Export, export_id) if export_id is not None else None
    if export is None:
        raise WorkflowError(_l("There is no such answer."))
    return export


def executed_plan(session: Session, request: Request) -> RequestPlan:
    """The request's executed plan, which its answer is made from."""
    from dsr.rights.service import live_plan

    row = live_plan(session, request)
    if row is None or row.state != PlanState.executed or row.outcome is None:
        raise WorkflowError(_l("The answer is made from the executed plan: execute it first."))
    return row


def is_stale(session: Session, export: Export) -> bool:
    """Has the executed plan changed (a later step, a new plan) since the answer was made?"""
    request = session.get(Request, export.request_id)
    if request is None:
        return False
    from dsr.rights.service import live_plan

    row = live_plan(session, request)
    if row is None or row.id != export.plan_id:
        return True
    return export.outcome_sha256 is not None and digest(row.outcome or {}) != export.outcome_sha256


def prepare(
    session: Session, request: Request, *, actor: Actor, now: datetime | None = None
) -> Export:
    """Ask for a new answer to ``request``: the ``build_answers`` job makes it."""
    now = now or utcnow()
    if request.anonymized_at is not None:
        raise WorkflowError(_l("The request's personal data has been removed."))
    row = executed_plan(session, request)
    building = session.scalars(
        select(Export).where(Export.request_id == request.id, Export.state == ExportState.building)
    ).first()
    if building is not None:
        raise WorkflowError(_l("An answer is being made already; wait for it to finish."))
    export = Export(
        request_id=request.id,
        plan_id=row.id,
        state=ExportState.building,
        progress=0,
        created_at=now,
    )
    session.add(export)
    session.flush()
    audit.record(
        session,
        "export.prepared",
        actor,
        request=request,
        payload={"export_id": export.id, "plan": row.number, "right": request.right.value},
        at=now,
    )
    return export


# --- building (the job's work) ------------------------------------------------------------------


def bundle_path(export: Export, config: Mapping[str, Any] | None = None) -> Path:
    if not export.path:
        raise WorkflowError(_l("The answer's file is gone."))
    return exports_dir(config if config is not None else current_app.config) / export.path


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".part")


def claim_next(session: Session, owner: str, now: datetime) -> Export | None:
    """Take the next answer waiting to be built (or abandoned by a crashed build), commit the
    claim so other schedulers leave it alone, and return it."""
    from dsr.jobs.claims import claiming

    export = session.scalars(
        claiming(
            session,
            select(Export)
            .where(
                Export.state == ExportState.building,
                (col(Export.claimed_until).is_(None)) | (col(Export.claimed_until) < now),
            )
            .order_by(col(Export.id))
            .limit(1),
        )
    ).first()
    if export is None:
        return None
    config = current_app.config
    if export.path:
        # A build that died part-way: start again from nothing.
        delete_export_file(exports_dir(config), export.path)
    export.path = f"{export.id}-{secrets.token_hex(8)}.zip.enc"
    export.claimed_by = owner
    export.claimed_until = now + timedelta(minutes=CLAIM_MINUTES)
    export.progress = 0
    session.add(export)
    session.commit()
    return export


class ClaimLost(Exception):
    """Another scheduler took the answer over (this one was thought dead): stop quietly."""


def _save_progress(session: Session, export: Export, owner: str, percent: int) -> None:
    """Commit the progress for the staff page, renewing the claim; stop if it was lost."""
    result = session.execute(
        update(Export)
        .where(col(Export.id) == export.id, col(Export.claimed_by) == owner)
        .values(progress=percent, claimed_until=utcnow() + timedelta(minutes=CLAIM_MINUTES))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if not getattr(result, "rowcount", 0):
        raise ClaimLost(export.id)


def build(
    session: Session,
    export: Export,
    env: Environment,
    *,
    owner: str,
    now: datetime | None = None,
) -> bool:
    """Write the answer's sealed ZIP; True if it is ready, False if it failed (with why) or
    another scheduler took it over.

    Commits as it goes: the progress (so that staff see it, and the claim stays alive) and
    the outcome. Nothing is left half-done: the file is written under a temporary name and
    renamed once complete, and a failure deletes it.
    """
    now = now or utcnow()
    config = env.config
    request = session.get(Request, export.request_id)
    row = session.get(RequestPlan, export.plan_id) if export.plan_id else None
    assert request is not None and export.path is not None
    target = exports_dir(config) / export.path
    partial = _partial(target)
    try:
        if row is None or row.outcome is None:
            raise WorkflowError(_l("The plan the answer was to be made from is gone."))
        answer = build_answer(session, request, row, env, now=now, base_url=str(config["BASE_URL"]))
        outcome_sha256 = digest(row.outcome)
        progress = bundle.Progress(
            answer.record_count,
            report=lambda percent: _save_progress(session, export, owner, percent),
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        with partial.open("wb") as raw:
            sealed = SealedWriter(raw, export_master_key(config))
            contents = bundle.write_bundle(
                answer,
                sealed,
                rows_per_table=int(config["EXPORTS_PDF_ROWS_PER_TABLE"]),
                progress=progress,
            )
            sealed.close()
            raw.flush()
            os.fsync(raw.fileno())
        partial.replace(target)
    except ClaimLost:
        # The row, and the file name on it, belong to the scheduler that took over.
        session.rollback()
        partial.unlink(missing_ok=True)
        return False
    except Exception as exc:  # noqa: BLE001 - every failure is shown to staff, then retried
        session.rollback()
        partial.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        if not isinstance(exc, WorkflowError | OSError):
            log.exception("answer %s could not be made", export.id)
        _failed(session, export, request, _reason(exc), now, owner)
        return False
    session.refresh(export)
    if export.claimed_by != owner:
        # Taken over in the last moments: the other scheduler's build is the one that counts.
        target.unlink(missing_ok=True)
        return False
    export.state = ExportState.ready
    export.size_bytes = sealed.size
    export.sha256 = sealed.sha256
    export.outcome_sha256 = outcome_sha256
    export.progress = 100
    export.ready_at = now
    # Unreleased answers do not stay on disk for ever either.
    export.expires_at = now + timedelta(days=int(config["EXPORTS_LINK_DAYS"]))
    export.claimed_by = None
    export.claimed_until = None
    session.add(export)
    record_by_scheduler(
        session,
        "export.built",
        request=request,
        payload={
            "export_id": export.id,
            "plan": row.number,
            "sha256": export.sha256,
            "bytes": export.size_bytes,
            "files": contents.members,
            "tables": [
                {"source": t.source, "table": t.table, "records": t.record_count}
                for t in answer.tables
            ],
        },
        at=now,
    )
    session.commit()
    return True


def _reason(exc: BaseException) -> str:
    detail = str(exc).strip().splitlines()
    text = detail[0] if detail else exc.__class__.__name__
    return text[:500]


def _failed(
    session: Session, export: Export, request: Request, reason: str, now: datetime, owner: str
) -> None:
    session.refresh(export)
    if export.claimed_by != owner:
        return  # another scheduler owns the row now
    export.state = ExportState.failed
    export.error = reason
    export.path = None
    export.claimed_by = None
    export.claimed_until = None
    session.add(export)
    record_by_scheduler(
        session,
        "export.failed",
        request=request,
        reason=reason,
        payload={"export_id": export.id},
        at=now,
    )
    session.commit()


# --- staff: preview and release -----------------------------------------------------------------


def read_member(
    session: Session, export: Export, kind: str, *, actor: Actor, now: datetime | None = None
) -> tuple[bytes, str, str]:
    """A member of a ready answer for staff to check, logged: (content, name, mimetype)."""
    now = now or utcnow()
    if kind not in PREVIEWS:
        raise WorkflowError(_l("There is no such file in the answer."))
    if export.state != ExportState.ready or export.purged_at is not None:
        raise WorkflowError(_l("Only a ready answer can be shown."))
    name, mimetype = PREVIEWS[kind]
    with (
        open_sealed(bundle_path(export), export_master_key()) as plain,
        zipfile.ZipFile(plain) as archive,
    ):
        content = archive.read(name)
    audit.record(
        session,
        "export.previewed",
        actor,
        request=session.get(Request, export.request_id),
        payload={"export_id": export.id, "file": name},
        at=now,
    )
    return content, name, mimetype


def release(session: Session, export: Export, *, actor: Actor, now: datetime | None = None) -> None:
    """Offer a ready answer to the subject and email them that it is there."""
    now = now or utcnow()
    request = session.get(Request, export.request_id)
    assert request is not None
    if request.anonymized_at is not None:
        raise WorkflowError(_l("The request's personal data has been removed."))
    if export.state != ExportState.ready or export.purged_at is not None:
        raise WorkflowError(_l("Only a ready answer can be released."))
    if export.released_at is not None:
        raise WorkflowError(_l("This answer has been released already."))
    if is_stale(session, export):
        raise WorkflowError(
            _l("The plan has changed since this answer was made: make the answer again.")
        )
    config = current_app.config
    for older in exports_of(session, request):
        if older.id != export.id and older.released_at is not None and older.purged_at is None:
            before = purge_export(session, older, now, config)
            audit.record(
                session,
                "export.replaced",
                actor,
                request=request,
                payload={"export_id": older.id, "state_before": before, "by": export.id},
                at=now,
            )
    export.released_at = now
    export.released_by_id = _staff_id(actor)
    export.expires_at = now + timedelta(days=int(config["EXPORTS_LINK_DAYS"]))
    session.add(export)
    if request.subject_email:
        notifications.queue_email(
            session,
            "answer_ready",
            request.subject_email,
            language=request.language,
            context={
                "request": request,
                "expires_at": export.expires_at,
                "status_url": identity.status_url(session, request, now),
            },
            request=request,
            carries_secret=True,
        )
    audit.record(
        session,
        "export.released",
        actor,
        request=request,
        payload={
            "export_id": export.id,
            "sha256": export.sha256,
            "bytes": export.size_bytes,
            "expires_at": export.expires_at.isoformat(),
        },
        public=True,
        at=now,
    )


def completion_problem(session: Session, request: Request) -> str | None:
    """Registered in ``workflow.COMPLETION_CHECKS``: access and portability are answered
    with a released answer."""
    if request.right not in ANSWER_REQUIRED:
        return None
    released = session.scalars(
        select(Export.id).where(
            Export.request_id == request.id, col(Export.released_at).is_not(None)
        )
    ).first()
    if released is None:
        return str(_l("The answer has not been released to the subject."))
    return None


# --- the subject: code and download -------------------------------------------------------------


def offered(session: Session, request: Request, now: datetime | None = None) -> Export | None:
    """The answer the subject can download now, if any."""
    now = now or utcnow()
    if request.anonymized_at is not None:
        return None
    return session.scalars(
        select(Export)
        .where(
            Export.request_id == request.id,
            Export.state == ExportState.ready,
            col(Export.released_at).is_not(None),
            col(Export.purged_at).is_(None),
            col(Export.expires_at) > now,
        )
        .order_by(col(Export.id).desc())
    ).first()


def code_ttl() -> timedelta:
    return timedelta(minutes=int(current_app.config["EXPORTS_CODE_MINUTES"]))


def send_download_code(session: Session, request: Request, *, now: datetime | None = None) -> None:
    """Email a fresh download code to the request's address; earlier codes stop working."""
    now = now or utcnow()
    if offered(session, request, now) is None:
        raise WorkflowError(_l("There is no answer to download."))
    if not request.subject_email:
        raise WorkflowError(_l("We have no email address to send the code to."))
    issued = identity.issue_token(
        session,
        TokenPurpose.download,
        request=request,
        ttl=code_ttl(),
        with_code=True,
        now=now,
    )
    notifications.queue_email(
        session,
        "download_code",
        request.subject_email,
        language=request.language,
        context={
            "request": request,
            "code": issued.code,
            "minutes": int(current_app.config["EXPORTS_CODE_MINUTES"]),
        },
        request=request,
        carries_secret=True,
    )
    audit.record(session, "export.code_sent", Actor.subject(), request=request, at=now)


def latest_download_code(session: Session, request: Request) -> VerificationToken | None:
    """The request's newest download code (issuing one revokes the ones before)."""
    return session.scalars(
        select(VerificationToken)
        .where(
            VerificationToken.request_id == request.id,
            VerificationToken.purpose == TokenPurpose.download,
        )
        .order_by(col(VerificationToken.id).desc())
        .limit(1)
    ).first()


def check_download_code(
    session: Session, request: Request, code: str, now: datetime | None = None
) -> CodeCheck:
    """Check a typed code against the request's newest download code; a right one is used up.

    Wrong codes count against the code (``verification.max_attempts``); a code of another
    request never matches, as only this request's code is compared.
    """
    now = now or utcnow()
    row = latest_download_code(session, request)
    if row is None:
        return CodeCheck.expired
    result = identity.check_code(session, row, code, now)
    if result == CodeCheck.accepted:
        row.used_at = now
        session.add(row)
    return result


def record_download(session: Session, export: Export, *, now: datetime | None = None) -> None:
    """Count and log one download by the subject."""
    now = now or utcnow()
    session.execute(
        update(Export)
        .where(col(Export.id) == export.id)
        .values(download_count=Export.download_count + 1)
        .execution_options(synchronize_session=False)
    )
    session.refresh(export)
    audit.record(
        session,
        "export.downloaded",
        Actor.subject(),
        request=session.get(Request, export.request_id),
        payload={"export_id": export.id, "sha256": export.sha256, "count": export.download_count},
        public=True,
        at=now,
    )


def open_plaintext(export: Export, config: Mapping[str, Any] | None = None) -> IO[bytes]:
    """The answer's ZIP, decrypted as it is read (each chunk checked)."""
    config = config if config is not None else current_app.config
    return open_sealed(bundle_path(export, config), export_master_key(config))


def staff_names(session: Session, exports: list[Export]) -> dict[int, str]:
    ids = {e.released_by_id for e in exports if e.released_by_id is not None}
    if not ids:
        return {}
    return {
        u.id: u.name
        for u in session.scalars(select(StaffUser).where(col(StaffUser.id).in_(ids)))
        if u.id is not None
    }
