"""Extension and pause/resume: state, due dates, the queued notice and the audit trail."""

from datetime import date, datetime

import pytest
from sqlmodel import select

from dsr import audit, crypto, workflow
from dsr.audit import Actor
from dsr.models import AuditEvent, EmailOutbox, PauseReason, RequestStatus, VerificationToken
from dsr.notifications import OUTBOX_LABEL

D = date.fromisoformat
RECEIVED = datetime.fromisoformat("2026-01-31T10:00:00+01:00")  # legal due 2026-03-02


def actor(user):
    return Actor.staff(user)


def outbox(db, kind):
    return db.exec(select(EmailOutbox).where(EmailOutbox.kind == kind)).all()


def body(row):
    return crypto.decrypt(row.body_text_encrypted, OUTBOX_LABEL)


def events(db, request, action):
    return db.exec(
        select(AuditEvent).where(AuditEvent.request_id == request.id, AuditEvent.action == action)
    ).all()


@pytest.fixture
def handler(make_staff):
    return make_staff("handler")


@pytest.fixture
def request_(make_request):
    return make_request(received_at=RECEIVED, status=RequestStatus.in_progress, language="sv")


def test_extension_moves_the_due_date_and_queues_the_notice(db, frozen_time, handler, request_):
    frozen_time("2026-02-20T09:00:00+01:00")
    assert request_.due_legal == D("2026-03-02")
    new = workflow.extend(db, request_, reason="Du har många konton hos oss.", actor=actor(handler))
    db.commit()
    assert new.legal == D("2026-04-28")
    assert (request_.due_target, request_.due_legal) == (D("2026-04-28"), D("2026-04-28"))
    assert request_.first_due_legal == D("2026-03-02")
    assert request_.extension_reason == "Du har många konton hos oss."

    [notice] = outbox(db, "extension_notice")
    assert notice.to_addr == "anna.andersson@example.se"
    assert notice.subject == f"Vi behöver mer tid för ditt ärende {request_.reference}"
    text = body(notice)
    assert "Du har många konton hos oss." in text and "2026-04-28" in text
    assert "Integritetsskyddsmyndigheten" in text
    assert "http://dsr.test/status/" in text

    [event] = events(db, request_, "request.extended")
    assert event.public and event.reason == "Du har många konton hos oss."
    assert event.payload["due_legal_before"] == "2026-03-02"
    assert event.payload["due_legal_after"] == "2026-04-28"
    assert audit.verify_chain(db) is None


def test_the_status_link_in_the_notice_is_stored_only_as_a_hash(db, frozen_time, handler, request_):
    frozen_time("2026-02-20T09:00:00+01:00")
    workflow.extend(db, request_, reason="Komplext", actor=actor(handler))
    db.commit()
    token = body(outbox(db, "extension_notice")[0]).split("/status/")[1].split()[0]
    rows = db.exec(
        select(VerificationToken).where(VerificationToken.request_id == request_.id)
    ).all()
    assert rows and all(token not in (r.token_hash or "") for r in rows)
    from dsr import identity
    from dsr.models import TokenPurpose

    assert identity.find_token(db, TokenPurpose.status, token).request_id == request_.id


def test_extension_on_the_last_day_is_allowed_but_not_after(db, frozen_time, handler, make_request):
    on_time = make_request(received_at=RECEIVED, status=RequestStatus.in_progress)
    late = make_request(received_at=RECEIVED, status=RequestStatus.in_progress)
    frozen_time("2026-03-02T23:00:00+01:00")
    workflow.extend(db, on_time, reason="Många ärenden", actor=actor(handler))
    frozen_time("2026-03-03T00:30:00+01:00")
    with pytest.raises(workflow.WorkflowError, match="2026-03-02"):
        workflow.extend(db, late, reason="Många ärenden", actor=actor(handler))
    assert late.extended_at is None and late.due_legal == D("2026-03-02")


def test_extension_needs_a_reason_and_happens_once(db, frozen_time, handler, request_):
    frozen_time("2026-02-10T09:00:00+01:00")
    with pytest.raises(workflow.WorkflowError, match="kräver ett skäl"):
        workflow.extend(db, request_, reason="   ", actor=actor(handler))
    workflow.extend(db, request_, reason="Komplext", actor=actor(handler))
    with pytest.raises(workflow.WorkflowError, match="bara förlängas en gång"):
        workflow.extend(db, request_, reason="Igen", actor=actor(handler))
    assert len(outbox(db, "extension_notice")) == 1


def test_a_closed_request_cannot_be_extended(db, frozen_time, handler, make_request):
    frozen_time("2026-02-10T09:00:00+01:00")
    closed = make_request(received_at=RECEIVED, status=RequestStatus.completed, closed_at=RECEIVED)
    with pytest.raises(workflow.WorkflowError, match="avslutat"):
        workflow.extend(db, closed, reason="x", actor=actor(handler))


def test_pause_and_resume_move_the_deadline_by_the_days_waited(db, frozen_time, handler, request_):
    frozen_time("2026-02-05T10:00:00+01:00")
    pause = workflow.pause(
        db,
        request_,
        reason=PauseReason.clarification,
        question="Vilka konton gäller det?",
        actor=actor(handler),
    )
    db.commit()
    assert request_.status == RequestStatus.awaiting_subject
    assert not pause.asked_late
    [question] = outbox(db, "information_request")
    assert "Vilka konton gäller det?" in body(question)
    # While waiting, the stored due date is unchanged.
    assert request_.due_legal == D("2026-03-02")

    frozen_time("2026-02-09T08:00:00+01:00")  # four calendar days later
    new = workflow.resume(db, request_, actor=Actor.subject())
    db.commit()
    assert request_.status == RequestStatus.in_progress
    assert new.target == D("2026-03-04") and request_.due_legal == D("2026-03-04")
    assert request_.first_due_legal == D("2026-03-04")
    [resumed] = events(db, request_, "request.resumed")
    assert resumed.payload["paused_days"] == 4 and resumed.public
    assert events(db, request_, "request.paused")[0].payload == {
        "pause_reason": "clarification",
        "asked_late": False,
    }


def test_several_pauses_add_up_and_combine_with_an_extension(db, frozen_time, handler, request_):
    for start, end in (
        ("2026-02-02T10:00:00+01:00", "2026-02-05T10:00:00+01:00"),
        ("2026-02-10T10:00:00+01:00", "2026-02-12T10:00:00+01:00"),
    ):
        frozen_time(start)
        workflow.pause(
            db,
            request_,
            reason=PauseReason.identity,
            question="Styrk din identitet",
            actor=actor(handler),
        )
        frozen_time(end)
        workflow.resume(db, request_, actor=actor(handler))
    assert request_.due_target == D("2026-03-05")  # 02-28 + 5 days
    frozen_time("2026-02-20T10:00:00+01:00")
    workflow.extend(db, request_, reason="Komplext", actor=actor(handler))
    assert request_.due_target == D("2026-05-03")  # 04-28 + 5 days (a Sunday)
    assert request_.due_legal == D("2026-05-04")


def test_a_late_question_is_flagged(db, frozen_time, handler, request_, app):
    frozen_time("2026-02-20T10:00:00+01:00")  # 20 days after receipt, default limit 7
    pause = workflow.pause(
        db, request_, reason=PauseReason.identity, question="ID?", actor=actor(handler)
    )
    assert pause.asked_late
    assert events(db, request_, "request.paused")[0].payload["asked_late"] is True


def test_pause_refusals(db, frozen_time, handler, request_):
    frozen_time("2026-02-05T10:00:00+01:00")
    with pytest.raises(workflow.WorkflowError):
        workflow.resume(db, request_, actor=actor(handler))
    with pytest.raises(workflow.WorkflowError):
        workflow.pause(
            db, request_, reason=PauseReason.identity, question=" ", actor=actor(handler)
        )
    workflow.pause(db, request_, reason=PauseReason.identity, question="ID?", actor=actor(handler))
    with pytest.raises(workflow.WorkflowError, match="väntar redan"):
        workflow.pause(
            db, request_, reason=PauseReason.identity, question="ID?", actor=actor(handler)
        )


def test_resume_restores_the_status_it_interrupted(db, frozen_time, handler, make_request):
    unverified = make_request(received_at=RECEIVED, status=RequestStatus.unverified)
    frozen_time("2026-02-02T10:00:00+01:00")
    workflow.pause(
        db, unverified, reason=PauseReason.identity, question="ID?", actor=actor(handler)
    )
    frozen_time("2026-02-03T10:00:00+01:00")
    workflow.resume(db, unverified, actor=Actor.subject())
    assert unverified.status == RequestStatus.unverified


def test_the_due_date_cli(app):
    runner = app.test_cli_runner()
    cases = {
        ("2026-03-05",): "2026-04-07",
        ("2026-01-31T23:30:00Z",): "2026-03-02",
        ("2026-01-31", "--extended"): "2026-04-28",
        ("2026-03-05", "--paused-days", "3"): "2026-04-08",
        ("2026-03-01", "--regime", "ccpa"): "2026-04-15",
        ("2026-11-24", "--eves"): "2026-12-28",
    }
    for args, expected in cases.items():
        result = runner.invoke(args=["dsr", "due-date", *args])
        assert result.exit_code == 0, result.output
        assert result.output.strip().splitlines()[-1] == expected, args


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["2026-02-30"], "not a valid date"),
        (["2026-01-31T23:30"], "no UTC offset"),
        (["yesterday"], "neither an ISO date"),
        (["2026-03-05", "--paused-days", "-2"], "-2"),
        (["2026-03-05", "--regime", "lgpd"], "lgpd"),
    ],
)
def test_the_due_date_cli_rejects_bad_input(app, args, message):
    result = app.test_cli_runner().invoke(args=["dsr", "due-date", *args])
    assert result.exit_code != 0
    assert message in result.output


def test_pages_derive_days_left_from_the_engine(app, db, frozen_time, make_request):
    from dsr.web.context import due_info

    request_ = make_request(received_at=RECEIVED, status=RequestStatus.in_progress)
    frozen_time("2026-02-26T12:00:00+01:00")
    info = due_info(request_)
    assert (info.days_left, info.state.value) == (4, "due_soon")
    frozen_time("2026-03-03T12:00:00+01:00")
    info = due_info(request_)
    assert (info.days_left, info.overdue) == (-1, True)
