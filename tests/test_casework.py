"""The request page and its actions, through HTTP, for each role."""

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from dsr import crypto
from dsr.db import utcnow
from dsr.models import (
    AssuranceLevel,
    AuditEvent,
    EmailOutbox,
    Export,
    ExportState,
    ManualTask,
    PlanState,
    Request,
    RequestMessage,
    RequestPlan,
    RequestStatus,
    Right,
    TaskKind,
    TaskStatus,
)
from dsr.notifications import OUTBOX_LABEL

ACTION_PAGES = ["extend", "ask", "refuse", "message", "complete", "withdraw", "close"]


def outbox(db, kind):
    return db.exec(select(EmailOutbox).where(EmailOutbox.kind == kind)).all()


def text_of(row):
    return crypto.decrypt(row.body_text_encrypted, OUTBOX_LABEL)


def fresh(db, item):
    db.expire_all()
    return db.get(Request, item.id)


def actions(db, item):
    return [
        e.action
        for e in db.exec(
            select(AuditEvent).where(AuditEvent.request_id == item.id).order_by(AuditEvent.seq)
        )
    ]


@pytest.fixture
def verified(make_request):
    return make_request(
        status=RequestStatus.verified,
        assurance=AssuranceLevel.email_verified,
        received_at=utcnow() - timedelta(days=3),
        language="sv",
    )


def test_request_page_shows_deadline_identity_and_timeline(client, login_as, verified):
    login_as("auditor")
    html = client.get(f"/staff/requests/{verified.reference}").get_data(as_text=True)
    assert verified.reference in html
    assert verified.due_legal.isoformat() in html
    assert "E-postadressen bekräftad" in html
    assert "Anna Andersson" in html
    assert client.get("/staff/requests/DSR-2026-999999").status_code == 404


def test_auditors_see_everything_and_change_nothing(client, login_as, verified, db):
    login_as("auditor")
    html = client.get(f"/staff/requests/{verified.reference}").get_data(as_text=True)
    assert "Åtgärder" not in html  # no action panel
    for action in ACTION_PAGES:
        assert client.get(f"/staff/requests/{verified.reference}/{action}").status_code == 403
        assert (
            client.submit(
                f"/staff/requests/{verified.reference}/{action}", {"reason": "x"}
            ).status_code
            == 403
        )
    for action in ("take", "assign", "resume", "identity-check"):
        assert client.submit(f"/staff/requests/{verified.reference}/{action}").status_code == 403
    assert fresh(db, verified).status == RequestStatus.verified


@pytest.mark.parametrize("role", ["handler", "admin"])
def test_handlers_and_admins_can_take_a_request(client, login_as, verified, db, role):
    me = login_as(role)
    response = client.submit(f"/staff/requests/{verified.reference}/take")
    assert response.status_code == 302
    item = fresh(db, verified)
    assert item.assignee_id == me.id and item.status == RequestStatus.in_progress
    assert actions(db, item)[-2:] == ["request.assigned", "request.started"]


def test_anonymous_visitors_are_sent_to_login(client, verified):
    response = client.get(f"/staff/requests/{verified.reference}")
    assert response.status_code == 302 and "/staff/login" in response.headers["Location"]


def test_extend_shows_the_email_for_review_then_sends_it(client, login_as, verified, db):
    login_as("handler")
    url = f"/staff/requests/{verified.reference}/extend"
    review = client.submit(url, {"reason": "Ärendet rör tio system.", "step": "draft"})
    html = review.get_data(as_text=True)
    assert review.status_code == 200
    assert "Ärendet rör tio system." in html and "[status-link]" in html
    assert fresh(db, verified).extended_at is None  # nothing stored at review
    draft_subject = re.search(r'name="original_subject" value="([^"]*)"', html).group(1)
    draft_text = re.search(r'name="original_text" value="([^"]*)"', html, re.S).group(1)
    import html as h

    sent = client.submit(
        url,
        {
            "reason": "Ärendet rör tio system.",
            "step": "send",
            "original_subject": h.unescape(draft_subject),
            "original_text": h.unescape(draft_text),
            "email_subject": h.unescape(draft_subject),
            "email_text": h.unescape(draft_text),
        },
    )
    assert sent.status_code == 302
    item = fresh(db, verified)
    assert item.extended_at is not None and item.extension_reason == "Ärendet rör tio system."
    [notice] = outbox(db, "extension_notice")
    assert notice.body_html_encrypted is not None  # unedited: the HTML part is kept
    assert "/status/" in text_of(notice) and "[status-link]" not in text_of(notice)


def test_an_edited_email_is_sent_as_edited_with_the_link_filled_in(client, login_as, verified, db):
    login_as("handler")
    client.submit(
        f"/staff/requests/{verified.reference}/message",
        {
            "body": "Vi återkommer.",
            "step": "send",
            "original_subject": "x",
            "original_text": "x",
            "email_subject": "Hälsning från oss",
            "email_text": "Hej Anna! Vi återkommer snart. Se [status-link]",
        },
    )
    [row] = outbox(db, "staff_message")
    assert row.subject == "Hälsning från oss"
    body = text_of(row)
    assert body.startswith("Hej Anna! Vi återkommer snart. Se http://dsr.test/status/")
    message = db.exec(select(RequestMessage).where(RequestMessage.request_id == verified.id)).one()
    assert message.body == "Vi återkommer."


def test_extending_twice_is_refused_with_a_message(client, login_as, verified, db):
    login_as("handler")
    url = f"/staff/requests/{verified.reference}/extend"
    client.submit(url, {"reason": "Komplext", "step": "send"})
    again = client.submit(url, {"reason": "Igen", "step": "send"})
    assert again.status_code == 200
    assert "bara förlängas en gång" in again.get_data(as_text=True)
    assert len(outbox(db, "extension_notice")) == 1


def test_ask_for_information_then_resume(client, login_as, verified, db):
    login_as("handler")
    client.submit(
        f"/staff/requests/{verified.reference}/ask",
        {"reason": "clarification", "question": "Gäller det båda kontona?", "step": "send"},
    )
    assert fresh(db, verified).status == RequestStatus.awaiting_subject
    assert "Gäller det båda kontona?" in text_of(outbox(db, "information_request")[0])
    client.submit(f"/staff/requests/{verified.reference}/resume", {"note": "Svar per telefon"})
    assert fresh(db, verified).status == RequestStatus.verified


def test_refusal_needs_reasons_and_a_justification_when_excessive(client, login_as, verified, db):
    login_as("handler")
    url = f"/staff/requests/{verified.reference}/refuse"
    no_reason = client.submit(
        url, {"scope": "full", "grounds": "other", "reason": "", "step": "send"}
    )
    assert no_reason.status_code == 200 and fresh(db, verified).status == RequestStatus.verified
    unjustified = client.submit(
        url,
        {"scope": "full", "grounds": "excessive", "reason": "Fjärde gången i år", "step": "send"},
    )
    assert "dokumenterad motivering" in unjustified.get_data(as_text=True)
    assert fresh(db, verified).status == RequestStatus.verified

    client.submit(
        url,
        {
            "scope": "full",
            "grounds": "excessive",
            "reason": "Du har fått samma utdrag tre gånger i år.",
            "justification": "Utdrag skickade 2026-01-10, 2026-03-02 och 2026-05-20; inga ändringar sedan dess.",
            "step": "send",
        },
    )
    item = fresh(db, verified)
    assert item.status == RequestStatus.refused and item.closed_at is not None
    assert item.refusal_justification.startswith("Utdrag skickade")
    text = text_of(outbox(db, "refusal")[0])
    assert "Du har fått samma utdrag tre gånger i år." in text
    assert "Integritetsskyddsmyndigheten" in text and "domstol" in text
    assert "Utdrag skickade" not in text  # the justification stays on file


def test_partial_refusal_keeps_the_request_open(client, login_as, verified, db):
    login_as("handler")
    client.submit(
        f"/staff/requests/{verified.reference}/refuse",
        {
            "scope": "partial",
            "grounds": "exemption",
            "reason": "Fakturor sparas enligt bokföringslagen.",
            "step": "send",
        },
    )
    item = fresh(db, verified)
    assert item.is_open and item.refusal_scope.value == "partial"
    assert "En del av ditt ärende" in outbox(db, "refusal")[0].subject


def test_completing_an_unverified_request_is_refused(client, login_as, make_request, db):
    login_as("handler")
    item = make_request(status=RequestStatus.unverified)
    response = client.submit(
        f"/staff/requests/{item.reference}/complete", {"summary": "", "step": "send"}
    )
    assert "inte bekräftats" in response.get_data(as_text=True)
    assert fresh(db, item).status == RequestStatus.unverified
    assert outbox(db, "completion") == []


def test_completing_waits_for_manual_tasks(client, login_as, verified, db):
    login_as("handler")
    task = ManualTask(
        request_id=verified.id, kind=TaskKind.erase, target="Fortnox", instructions="Radera kunden"
    )
    db.add(task)
    # The right itself has been carried out (see dsr.rights); what is left is the task.
    db.add(
        RequestPlan(
            request_id=verified.id,
            right=verified.right,
            state=PlanState.executed,
            approved_at=utcnow(),
            executed_at=utcnow(),
            outcome={},
        )
    )
    # An access request is answered with a released answer file (dsr.exports).
    db.add(Export(request_id=verified.id, state=ExportState.ready, released_at=utcnow()))
    db.commit()
    blocked = client.submit(
        f"/staff/requests/{verified.reference}/complete", {"summary": "Klart", "step": "send"}
    )
    assert "manuella uppgifter" in blocked.get_data(as_text=True)
    client.submit(
        f"/staff/requests/{verified.reference}/tasks/{task.id}",
        {"status": "done", "note": "Raderad 2026-11-21"},
    )
    db.refresh(task)
    assert task.status == TaskStatus.done and task.note == "Raderad 2026-11-21"
    done = client.submit(
        f"/staff/requests/{verified.reference}/complete",
        {"summary": "Allt är raderat.", "step": "send"},
    )
    assert done.status_code == 302
    assert fresh(db, verified).status == RequestStatus.completed
    assert "Allt är raderat." in text_of(outbox(db, "completion")[0])


def test_withdraw_and_close(client, login_as, make_request, db):
    login_as("handler")
    a, b = make_request(), make_request()
    client.submit(
        f"/staff/requests/{a.reference}/withdraw", {"note": "Ringde och drog tillbaka 21/11"}
    )
    assert fresh(db, a).status == RequestStatus.withdrawn
    assert outbox(db, "withdrawn")[0].to_addr == "anna.andersson@example.se"
    client.submit(
        f"/staff/requests/{b.reference}/close",
        {"reason": "duplicate", "note": f"Samma som {a.reference}"},
    )
    closed = fresh(db, b)
    assert closed.status == RequestStatus.closed and closed.close_reason.value == "duplicate"
    # A closed request takes no more actions.
    again = client.submit(f"/staff/requests/{b.reference}/message", {"body": "Hej", "step": "send"})
    assert "avslutat" in again.get_data(as_text=True)


def test_manual_identity_check_raises_assurance_and_is_audited(client, login_as, make_request, db):
    login_as("handler")
    item = make_request(status=RequestStatus.unverified)
    client.submit(
        f"/staff/requests/{item.reference}/identity-check",
        {"method": "known_contact", "note": "Ringde upp på numret i kundregistret."},
    )
    item = fresh(db, item)
    assert item.assurance == AssuranceLevel.staff_verified and item.status == RequestStatus.verified
    assert item.assurance_method == "known_contact"
    assert "identity.checked_by_staff" in actions(db, item)


def test_showing_the_full_personnummer_is_recorded(client, login_as, make_request, db, app):
    login_as("handler")
    with app.app_context():
        encrypted = crypto.encrypt("196408233234", "pnr")
    item = make_request(subject_pnr_encrypted=encrypted, subject_pnr_masked="19640823-****")
    page = client.get(f"/staff/requests/{item.reference}").get_data(as_text=True)
    assert "19640823-****" in page and "3234" not in page
    shown = client.submit(
        f"/staff/requests/{item.reference}/reveal-personnummer", follow_redirects=True
    )
    assert "19640823-3234" in shown.get_data(as_text=True)
    assert "request.personnummer_shown" in actions(db, item)


def test_assigning_to_an_auditor_is_refused(client, login_as, make_staff, verified, db):
    login_as("admin")
    auditor = make_staff("auditor")
    response = client.submit(
        f"/staff/requests/{verified.reference}/assign",
        {"assignee": auditor.id},
        follow_redirects=True,
    )
    assert fresh(db, verified).assignee_id is None
    # Auditors are not among the choices, so the form refuses them.
    assert "Välj vem ärendet ska tilldelas." in response.get_data(as_text=True)


def test_unknown_action_is_404(client, login_as, verified):
    login_as("handler")
    assert client.get(f"/staff/requests/{verified.reference}/teleport").status_code == 404


def test_every_right_gets_the_right_required_assurance_shown(client, login_as, make_request):
    login_as("handler")
    erasure = make_request(right=Right.erasure)
    html = client.get(f"/staff/requests/{erasure.reference}").get_data(as_text=True)
    assert "Krävs för denna rättighet" in html and "E-postadressen bekräftad" in html


def test_the_request_page_marks_a_question_asked_late(client, db, login_as, make_request):
    from dsr import workflow
    from dsr.audit import Actor
    from dsr.models import PauseReason

    handler = login_as("handler")
    late = make_request(received_at=utcnow() - timedelta(days=20), status=RequestStatus.verified)
    early = make_request(received_at=utcnow() - timedelta(days=1), status=RequestStatus.verified)
    for request in (late, early):
        workflow.pause(
            db,
            request,
            reason=PauseReason.identity,
            question="Vilken adress?",
            actor=Actor.staff(handler),
        )
    db.commit()
    assert "Frågat sent" in client.get(f"/staff/requests/{late.reference}").get_data(as_text=True)
    assert "Frågat sent" not in client.get(f"/staff/requests/{early.reference}").get_data(
        as_text=True
    )
