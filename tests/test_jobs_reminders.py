"""Deadline mail for staff: reminders, escalations of overdue requests, the daily digest."""

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from dsr import notifications
from dsr.jobs import reminders
from dsr.models import EmailOutbox, RequestStatus, StaffRole
from tests.support import text_body

#: A Tuesday morning in Stockholm, after the daily hour.
MORNING = datetime.fromisoformat("2026-03-10T07:30:00+01:00")
TODAY = date(2026, 3, 10)


@pytest.fixture(autouse=True)
def morning(frozen_time):
    """The clock stands at MORNING unless a test moves it."""
    frozen_time(MORNING)


def person(make_staff, db, role=StaffRole.handler, *, language="sv", active=True):
    user = make_staff(role)
    user.language = language
    user.active = active
    db.add(user)
    db.commit()
    return user


def due_in(make_request, db, days, **fields):
    """An open request whose legal due date is ``days`` from TODAY."""
    fields.setdefault("status", RequestStatus.in_progress)
    request = make_request(received_at=MORNING - timedelta(days=20), **fields)
    request.due_target = request.due_legal = TODAY + timedelta(days=days)
    db.add(request)
    db.commit()
    return request


def deliver(app, db, now, smtp, expected):
    """Send what the jobs queued and return the emails as the recipients get them."""
    assert notifications.deliver_pending(db, now, app.config) == expected
    return smtp.wait_for(expected) if expected else []


@pytest.mark.parametrize(
    ("days_left", "offset"),
    [(8, None), (7, 7), (5, 7), (4, 7), (3, 3), (2, 3), (1, 1), (0, 1), (-1, None)],
)
def test_the_reminder_due_is_the_smallest_offset_not_below_the_days_left(days_left, offset):
    assert reminders.reminder_offset(days_left, [7, 3, 1]) == offset


def test_the_assignee_is_reminded_7_3_and_1_days_before_in_their_language(
    app, db, smtp, make_staff, make_request, frozen_time
):
    handler = person(make_staff, db, language="en")
    request = due_in(make_request, db, 7, assignee_id=handler.id)
    subjects = []
    for day in range(9):
        now = MORNING + timedelta(days=day)
        frozen_time(now)
        queued = reminders.send_reminders(db, now, app.config)
        db.commit()
        # Running again the same day (a second scheduler, cron) sends nothing more.
        assert reminders.send_reminders(db, now, app.config) == 0
        smtp.clear()
        for message in deliver(app, db, now, smtp, queued):
            assert message["To"] == handler.email
            subjects.append((day, message["Subject"]))
    assert subjects == [
        (0, f"Due in 7 days: {request.reference}"),
        (4, f"Due in 3 days: {request.reference}"),
        (6, f"Due in 1 day: {request.reference}"),
    ]


def test_the_reminder_says_what_is_due_and_when(app, db, smtp, make_staff, make_request):
    handler = person(make_staff, db, language="sv")
    request = due_in(make_request, db, 3, assignee_id=handler.id)
    assert reminders.send_reminders(db, MORNING, app.config) == 1
    [message] = deliver(app, db, MORNING, smtp, 1)
    assert message["Subject"] == f"Förfaller om 3 dagar: {request.reference}"
    body = text_body(message)
    assert f"{request.reference} måste besvaras senast 2026-03-13 (om 3 dagar)" in body
    assert "Tillgång (art. 15)" in body
    assert f"http://dsr.test/staff/requests/{request.reference}" in body
    # Staff emails say what is due, not who the subject is.
    assert "Anna" not in body and "anna.andersson" not in body


def test_a_reminder_missed_on_its_day_is_sent_once_later_without_the_ones_before_it(
    app, db, smtp, make_request
):
    """The scheduler was away when 7 days were left; at 5 days one reminder goes out."""
    request = due_in(make_request, db, 5)
    assert reminders.send_reminders(db, MORNING, app.config) == 1
    assert reminders.send_reminders(db, MORNING + timedelta(days=1), app.config) == 0
    [message] = deliver(app, db, MORNING, smtp, 1)
    assert message["Subject"] == f"Förfaller om 5 dagar: {request.reference}"


def test_unassigned_requests_remind_the_privacy_team(app, db, smtp, make_request):
    due_in(make_request, db, 1)
    reminders.send_reminders(db, MORNING, app.config)
    [message] = deliver(app, db, MORNING, smtp, 1)
    assert message["To"] == "privacy-team@dsr.test"


def test_a_deactivated_assignee_is_not_reminded_the_team_is(
    app, db, smtp, make_staff, make_request
):
    gone = person(make_staff, db, active=False)
    due_in(make_request, db, 1, assignee_id=gone.id)
    reminders.send_reminders(db, MORNING, app.config)
    [message] = deliver(app, db, MORNING, smtp, 1)
    assert message["To"] == "privacy-team@dsr.test"


@pytest.mark.parametrize(
    "status",
    [
        RequestStatus.completed,
        RequestStatus.refused,
        RequestStatus.withdrawn,
        RequestStatus.awaiting_subject,
    ],
)
def test_closed_and_paused_requests_get_no_reminders(app, db, make_request, status):
    closed = status != RequestStatus.awaiting_subject
    due_in(make_request, db, 3, status=status, closed_at=MORNING if closed else None)
    assert reminders.send_reminders(db, MORNING, app.config) == 0


def test_a_new_due_date_gets_its_own_reminders(app, db, smtp, make_request):
    """After an extension the reminders count down to the new date."""
    request = due_in(make_request, db, 3)
    assert reminders.send_reminders(db, MORNING, app.config) == 1
    request.due_target = request.due_legal = TODAY + timedelta(days=63)
    db.add(request)
    db.commit()
    later = MORNING + timedelta(days=56)
    assert reminders.send_reminders(db, later, app.config) == 1
    keys = db.scalars(select(EmailOutbox.dedupe_key).order_by(EmailOutbox.id)).all()
    assert keys == [
        f"reminder:{request.id}:2026-03-13:3",
        f"reminder:{request.id}:2026-05-12:7",
    ]


def test_the_reminder_days_are_a_setting(app, db, make_request):
    due_in(make_request, db, 10)
    assert reminders.send_reminders(db, MORNING, app.config) == 0
    config = dict(app.config, SCHEDULER_REMINDER_DAYS=[14, 10])
    assert reminders.send_reminders(db, MORNING, config) == 1


# --- escalation ------------------------------------------------------------------------


def test_overdue_requests_are_escalated_to_each_admin_once_a_day_until_closed(
    app, db, smtp, make_staff, make_request
):
    swedish = person(make_staff, db, StaffRole.admin, language="sv")
    english = person(make_staff, db, StaffRole.admin, language="en")
    person(make_staff, db, StaffRole.admin, active=False)
    handler = person(make_staff, db, StaffRole.handler)
    request = due_in(make_request, db, -2, assignee_id=handler.id)
    due_today = due_in(make_request, db, 0)  # not overdue yet

    assert reminders.escalate_overdue(db, MORNING, app.config) == 2
    assert reminders.escalate_overdue(db, MORNING + timedelta(hours=5), app.config) == 0
    deliver(app, db, MORNING, smtp, 2)
    [sv] = smtp.to(swedish.email)
    [en] = smtp.to(english.email)
    assert en["Subject"] == f"Overdue by 2 days: {request.reference}"
    assert sv["Subject"] == f"Försenat med 2 dagar: {request.reference}"
    body = text_body(en)
    assert "passed its legal due date, 2026-03-08, and is still open" in body
    assert f"Assigned to: {handler.name}" in body
    assert "once a day until the request is closed" in body

    # The next day both admins hear again, now also about the one that was due yesterday.
    tomorrow = MORNING + timedelta(days=1)
    assert reminders.escalate_overdue(db, tomorrow, app.config) == 4
    smtp.clear()
    deliver(app, db, tomorrow, smtp, 4)
    subjects = sorted(str(m["Subject"]) for m in smtp.to(english.email))
    assert subjects == [
        f"Overdue by 1 day: {due_today.reference}",
        f"Overdue by 3 days: {request.reference}",
    ]

    for closing in (request, due_today):
        closing.status = RequestStatus.completed
        closing.closed_at = tomorrow
        db.add(closing)
    db.commit()
    assert reminders.escalate_overdue(db, tomorrow + timedelta(days=1), app.config) == 0


def test_the_local_day_decides_when_a_new_escalation_is_due(app, db, make_staff, make_request):
    """23:30 UTC on 10 March is already 11 March in Stockholm."""
    person(make_staff, db, StaffRole.admin)
    due_in(make_request, db, -1)
    assert reminders.escalate_overdue(db, MORNING, app.config) == 1
    late = datetime.fromisoformat("2026-03-10T22:30:00+00:00")
    assert reminders.escalate_overdue(db, late, app.config) == 0
    next_day = datetime.fromisoformat("2026-03-10T23:30:00+00:00")
    assert reminders.escalate_overdue(db, next_day, app.config) == 1


def test_paused_requests_are_not_escalated(app, db, make_staff, make_request):
    person(make_staff, db, StaffRole.admin)
    due_in(make_request, db, -5, status=RequestStatus.awaiting_subject)
    assert reminders.escalate_overdue(db, MORNING, app.config) == 0


# --- digest ----------------------------------------------------------------------------


def test_the_digest_lists_each_persons_requests_by_due_date_and_the_unassigned_ones(
    app, db, smtp, make_staff, make_request
):
    hanna = person(make_staff, db, StaffRole.handler, language="en")
    idle = person(make_staff, db, StaffRole.admin, language="en")
    person(make_staff, db, StaffRole.auditor)
    person(make_staff, db, StaffRole.handler, active=False)
    later = due_in(make_request, db, 20, assignee_id=hanna.id)
    overdue = due_in(make_request, db, -1, assignee_id=hanna.id)
    soon = due_in(make_request, db, 2, assignee_id=hanna.id)
    nobodys = due_in(make_request, db, 12, status=RequestStatus.verified)
    done = due_in(
        make_request,
        db,
        1,
        assignee_id=hanna.id,
        status=RequestStatus.completed,
        closed_at=MORNING,
    )

    assert reminders.send_digests(db, MORNING, app.config) == 2
    assert reminders.send_digests(db, MORNING + timedelta(hours=3), app.config) == 0
    deliver(app, db, MORNING, smtp, 2)

    [mail] = smtp.to(hanna.email)
    assert mail["Subject"] == "Requests on 2026-03-10: 1 of yours overdue"
    body = text_body(mail)
    mine, _, unassigned = body.partition("Open requests nobody is assigned to:")
    positions = [mine.index(r.reference) for r in (overdue, soon, later)]
    assert positions == sorted(positions)
    assert f"{overdue.reference} · Access (Art. 15) · In progress · due 2026-03-09" in mine
    assert "(1 day overdue)" in mine and "(due in 2 days)" in mine
    assert done.reference not in body
    assert nobodys.reference in unassigned

    [other] = smtp.to(idle.email)
    body = text_body(other)
    assert "You have no open requests assigned to you." in body
    assert nobodys.reference in body and later.reference not in body

    tomorrow = MORNING + timedelta(days=1)
    assert reminders.send_digests(db, tomorrow, app.config) == 2


def test_nobody_gets_an_empty_digest(app, db, make_staff):
    person(make_staff, db, StaffRole.handler)
    assert reminders.send_digests(db, MORNING, app.config) == 0
