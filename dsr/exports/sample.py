"""A sample answer from start to finish, for people who want to see one (and for tests).

:func:`write_samples` builds a throwaway service of its own (a temporary SQLite database and
the profile's demo customer systems in a temporary directory, never the configured ones),
files a request for the demo subject Astrid Lindqvist as she would on the web, confirms her
email address with the emailed code, plans and executes the right the way a handler would,
builds the answer through the same job the scheduler runs, releases it, and writes its JSON,
PDF and ZIP to a directory. :func:`file_verified_request` and :func:`carry_out` are the
steps, usable on any app with the profile's demo systems.
"""

from __future__ import annotations

import secrets
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlmodel import Session

from dsr import identity, intake, workflow
from dsr.audit import Actor
from dsr.crypto import export_master_key
from dsr.db import utcnow
from dsr.exports import bundle
from dsr.exports import service as answers
from dsr.exports.jobs import build_answers
from dsr.exports.sealed import open_sealed
from dsr.identity import CodeCheck
from dsr.models import (
    Channel,
    ExportState,
    ManualTask,
    PlanState,
    Request,
    RequestPlan,
    Right,
    TaskStatus,
)
from dsr.rights import service, steps
from dsr.rights.base import Environment

NAME = "Astrid Lindqvist"
EMAIL = "astrid.lindqvist@example.com"
#: Who the audit log names for what the sample does in a handler's place.
HANDLER = Actor.system("sample-answer")

#: Erasure last: it takes the subject's data away from the rights after it.
ORDER = (
    Right.access,
    Right.portability,
    Right.rectification,
    Right.restriction,
    Right.objection,
    Right.consent_withdrawal,
    Right.human_review,
    Right.erasure,
)

#: What the subject writes on each right's form.
DETAILS: Mapping[Right, dict[str, Any]] = {
    Right.access: {},
    Right.portability: {"delivery": "download"},
    Right.rectification: {
        "data_to_correct": "Mitt förnamn är felstavat.",
        "correct_values": "Åsa-Astrid",
    },
    Right.restriction: {"grounds": "legal_claims"},
    Right.objection: {"objection_to": "direct_marketing"},
    Right.consent_withdrawal: {"consent": "Nyhetsbrevet och andra utskick"},
    Right.human_review: {
        "decision": "Det automatiska beslutet om mig",
        "viewpoint": "Jag vill att en människa tittar på det.",
    },
    Right.erasure: {"scope": "everything"},
}


class SampleError(Exception):
    """The sample could not be made; the message says why."""


def file_verified_request(
    session: Session,
    right: Right,
    *,
    name: str = NAME,
    email: str = EMAIL,
    details: Mapping[str, Any] | None = None,
    language: str = "sv",
    now: datetime | None = None,
) -> Request:
    """File a request as the web form does, and confirm the address with the emailed code."""
    now = now or utcnow()
    submission = intake.check_submission(
        right,
        name=name,
        email=email,
        details=dict(DETAILS[right] if details is None else details),
        language=language,
        now=now,
    )
    filed = intake.file_request(
        session, submission, channel=Channel.web, actor=Actor.subject(), now=now
    )
    issued = filed.verification
    if issued is None or issued.code is None:
        raise SampleError(f"no verification code was issued for {right.value}")
    checked = identity.check_code(session, issued.row, issued.code, now)
    if checked != CodeCheck.accepted:
        raise SampleError(f"the emailed code was not accepted: {checked.value}")
    identity.confirm_email(session, issued.row, actor=Actor.subject(), now=now)
    return filed.request


def carry_out(
    session: Session, request: Request, *, actor: Actor = HANDLER, now: datetime | None = None
) -> RequestPlan:
    """Plan the request's right, decide what it needs, approve and execute it; the executed
    plan. An erasure runs as if its grace period were over."""
    now = now or utcnow()
    env = Environment.current()
    row = service.make_plan(session, request, actor=actor, now=now)
    if request.right == Right.rectification:
        _correct_a_name(session, row, actor)
    elif request.right == Right.consent_withdrawal:
        steps.select_purposes(
            session, row, actor=actor, keys=[p["key"] for p in row.plan["purposes"]]
        )
    if request.right == Right.objection and row.plan.get("objection_to") == "direct_marketing":
        steps.stop_marketing_now(session, row, actor=actor)
    else:
        service.approve(session, row, actor=actor, env=env, now=now)
        later = now
        if row.execute_after is not None:
            later = max(now, row.execute_after + timedelta(minutes=1))
        service.execute(session, row, actor=actor, env=env, now=later)
    if request.right == Right.human_review:
        for task in session.scalars(select(ManualTask).where(ManualTask.request_id == request.id)):
            if task.status == TaskStatus.open:
                workflow.complete_task(
                    session,
                    task,
                    status=TaskStatus.done,
                    note="Granskat av en handläggare.",
                    actor=actor,
                    now=now,
                )
        steps.conclude_review(
            session,
            row,
            actor=actor,
            result="upheld",
            explanation="En handläggare har gått igenom underlaget; beslutet står fast.",
            now=now,
        )
    if row.state != PlanState.executed:
        raise SampleError(f"the {request.right.value} plan did not run: {row.error}")
    return row


def _correct_a_name(session: Session, row: RequestPlan, actor: Actor) -> None:
    columns = [c for c in row.plan.get("columns", []) if "name" in c["column"] and c["keys"]]
    if not columns:
        steps.add_statement(
            session, row, actor=actor, text=DETAILS[Right.rectification]["correct_values"]
        )
        return
    column = columns[0]
    steps.add_correction(
        session,
        row,
        actor=actor,
        source=column["source"],
        table=column["table"],
        column=column["column"],
        key=column["keys"][0],
        proposed=DETAILS[Right.rectification]["correct_values"],
    )
    steps.decide_correction(
        session, row, actor=actor, correction_id=1, decision="accepted", value=None, reason=""
    )
    steps.add_statement(
        session,
        row,
        actor=actor,
        text="Namnet i gamla kvitton ska också vara rätt stavat.",
        about="Kvitton",
    )


@dataclass(frozen=True)
class SampleFiles:
    right: Right
    reference: str
    json: Path
    pdf: Path
    bundle: Path


def write_samples(
    profile: str,
    rights: Sequence[Right] | None,
    out_dir: Path,
    *,
    base_config: Mapping[str, Any],
) -> list[SampleFiles]:
    """Run the whole flow for each right on a fresh demo service; write the answers."""
    from dsr import create_app, migrate
    from dsr.db import get_db
    from dsr.demodata import ensure_demo_systems
    from dsr.profiles import current_profile

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dsr-sample-") as workdir:
        url = f"sqlite:///{Path(workdir) / 'dsr.sqlite3'}"
        app = create_app(
            {
                "ENV": "development",
                "SECRET_KEY": secrets.token_urlsafe(48),
                "EXPORT_KEY": "",
                "DATABASE_URL": url,
                "DATA_DIR": workdir,
                "PROFILE": profile,
                "MAIL_DEV_MAILBOX": False,
                "BASE_URL": base_config["BASE_URL"],
            }
        )
        migrate.upgrade(url)
        written: list[SampleFiles] = []
        try:
            with app.app_context():
                loaded = current_profile()
                wanted = [r for r in ORDER if loaded.offers(r) and (not rights or r in rights)]
                if rights and len(wanted) != len(set(rights)):
                    missing = sorted(r.value for r in set(rights) - set(wanted))
                    raise SampleError(
                        f"the profile {profile!r} does not offer {', '.join(missing)}"
                    )
                ensure_demo_systems(loaded, workdir)
                database = get_db(app)
                for right in wanted:
                    written.append(_sample(database, right, out_dir))
        finally:
            get_db(app).dispose()
    return written


def _sample(database: Any, right: Right, out_dir: Path) -> SampleFiles:
    """One right from the web form to the released answer, each step its own transaction."""
    with database.transaction() as session:
        request_id = file_verified_request(session, right).id
    with database.transaction() as session:
        request = session.get(Request, request_id)
        assert request is not None
        reference = request.reference
        row = carry_out(session, request)
        # An erasure runs after its grace period: the answer comes after that.
        now = max(utcnow(), row.executed_at or utcnow())
        export_id = answers.prepare(session, request, actor=HANDLER, now=now).id
    with database.transaction() as session:
        build_answers(session, now, current_app.config)
    with database.transaction() as session:
        export = answers.get(session, export_id)
        if export.state != ExportState.ready:
            raise SampleError(f"the {right.value} answer failed: {export.error}")
        answers.release(session, export, actor=HANDLER, now=now)
        sealed = answers.bundle_path(export)
    return _write(out_dir, right, reference, sealed)


def _write(out_dir: Path, right: Right, reference: str, sealed: Path) -> SampleFiles:
    files = SampleFiles(
        right,
        reference,
        out_dir / f"{right.value}.json",
        out_dir / f"{right.value}.pdf",
        out_dir / f"{right.value}.zip",
    )
    with open_sealed(sealed, export_master_key()) as plain:
        with files.bundle.open("wb") as target:
            while chunk := plain.read(64 * 1024):
                target.write(chunk)
        plain.seek(0)
        with zipfile.ZipFile(plain) as archive:
            files.json.write_bytes(archive.read(bundle.JSON_NAME))
            files.pdf.write_bytes(archive.read(bundle.PDF_NAME))
    return files
