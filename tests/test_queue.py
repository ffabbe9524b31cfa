"""The staff queue: filters, search, keyset pagination and the CSV register."""

import csv
import io
import re
from datetime import date, datetime, timedelta

import pytest
from sqlmodel import select

from dsr.db import utcnow
from dsr.models import AuditEvent, Channel, Request, RequestStatus, Right

REF = re.compile(r"DSR-\d{4}-\d{6}")


def refs(response):
    """References in queue order, as a person reads them off the page."""
    html = response.get_data(as_text=True)
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    seen = []
    for ref in REF.findall(body):
        if ref not in seen:
            seen.append(ref)
    return seen


@pytest.fixture
def today():
    return date.today()


def received_days_ago(n):
    return utcnow() - timedelta(days=n)


def test_default_queue_lists_open_requests_by_legal_due_date(client, login_as, make_request):
    login_as("handler")
    later = make_request(received_at=received_days_ago(2))
    sooner = make_request(received_at=received_days_ago(20))
    closed = make_request(
        received_at=received_days_ago(25), status=RequestStatus.completed, closed_at=utcnow()
    )
    page = client.get("/staff/")
    assert page.status_code == 200
    assert refs(page) == [sooner.reference, later.reference]
    assert closed.reference not in refs(page)
    assert closed.reference in refs(client.get("/staff/?status=all"))


def test_overdue_and_due_soon_stand_out(client, login_as, make_request):
    login_as("handler")
    overdue = make_request(received_at=received_days_ago(40))
    soon = make_request(received_at=received_days_ago(28))
    html = client.get("/staff/").get_data(as_text=True)
    row_overdue = html.split(overdue.reference)[0].rsplit("<tr", 1)[1]
    row_soon = html.split(soon.reference)[0].rsplit("<tr", 1)[1]
    assert 'class="overdue"' in row_overdue
    assert 'class="due-soon"' in row_soon
    assert "försenad" in html


def test_filters_by_due_window_right_channel_and_assignee(
    client, login_as, make_request, make_staff
):
    me = login_as("handler")
    other = make_staff("handler")
    overdue = make_request(
        received_at=received_days_ago(40), right=Right.erasure, assignee_id=me.id
    )
    later = make_request(
        received_at=received_days_ago(1), right=Right.access, channel=Channel.letter
    )
    theirs = make_request(
        received_at=received_days_ago(3), right=Right.access, assignee_id=other.id
    )
    assert refs(client.get("/staff/?due=overdue")) == [overdue.reference]
    assert set(refs(client.get("/staff/?due=later"))) == {later.reference, theirs.reference}
    assert refs(client.get("/staff/?right=erasure")) == [overdue.reference]
    assert refs(client.get("/staff/?channel=letter")) == [later.reference]
    assert refs(client.get("/staff/?assignee=mine")) == [overdue.reference]
    assert refs(client.get("/staff/?assignee=unassigned")) == [later.reference]
    assert refs(client.get(f"/staff/?assignee={other.id}")) == [theirs.reference]


def test_received_between_uses_local_dates(client, login_as, make_request):
    login_as("auditor")
    late_evening = make_request(received_at=datetime.fromisoformat("2026-03-10T23:30:00+01:00"))
    next_morning = make_request(received_at=datetime.fromisoformat("2026-03-11T08:00:00+01:00"))
    listed = refs(client.get("/staff/?status=all&received_from=2026-03-10&received_to=2026-03-10"))
    assert listed == [late_evening.reference]
    assert next_morning.reference in refs(client.get("/staff/?status=all&received_from=2026-03-11"))


def test_search_by_reference_email_and_name(client, login_as, make_request):
    login_as("handler")
    anna = make_request(subject_name="Anna Lindqvist", subject_email="anna@example.se")
    bo = make_request(subject_name="Bo Åkesson", subject_email="bo@example.se")
    assert refs(client.get(f"/staff/?q={anna.reference.lower()}")) == [anna.reference]
    number = bo.reference.rsplit("-", 1)[1].lstrip("0")
    assert refs(client.get(f"/staff/?q={number}")) == [bo.reference]
    assert refs(client.get("/staff/?q=ANNA@example.se")) == [anna.reference]
    assert refs(client.get("/staff/?q=lindq")) == [anna.reference]
    assert refs(client.get("/staff/?q=åke")) == [bo.reference]
    assert refs(client.get("/staff/?q=%25")) == []  # a wildcard is just a character


def test_bad_filter_values_are_reported_and_ignored(client, login_as, make_request):
    login_as("handler")
    item = make_request()
    response = client.get("/staff/?right=telepathy&received_from=yesterday")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "ignorerades" in html and "right" in html and "received_from" in html
    assert refs(response) == [item.reference]


@pytest.mark.parametrize("sort", ["due", "received", "status"])
def test_keyset_pages_cover_every_request_once_in_order(
    app, client, login_as, make_request, sort, monkeypatch
):
    login_as("handler")
    statuses = [RequestStatus.unverified, RequestStatus.verified, RequestStatus.in_progress]
    made = []
    for i in range(23):
        # Several requests share a due date, so the id breaks ties at page boundaries.
        made.append(make_request(received_at=received_days_ago(i // 3), status=statuses[i % 3]))
    monkeypatch.setitem(app.config, "STAFF_PAGE_SIZE", 5)
    seen, url, pages = [], f"/staff/?sort={sort}", 0
    while url:
        page = client.get(url)
        pages += 1
        batch = refs(page)
        assert 0 < len(batch) <= 5
        seen.extend(batch)
        nxt = re.search(r'rel="next" href="([^"]+)"', page.get_data(as_text=True))
        url = nxt.group(1).replace("&amp;", "&") if nxt else None
    assert pages == 5
    assert sorted(seen) == sorted(r.reference for r in made) and len(set(seen)) == 23
    expected = {
        "due": sorted(made, key=lambda r: (r.due_legal, r.id)),
        "received": sorted(made, key=lambda r: (r.received_at, r.id), reverse=True),
        "status": sorted(made, key=lambda r: (r.status.value, r.due_legal, r.id)),
    }[sort]
    assert seen == [r.reference for r in expected]
    # ... and walking back from the last page returns the same pages in reverse.
    back, url = [], re.search(r'rel="prev" href="([^"]+)"', page.get_data(as_text=True))
    back = refs(page)
    while url:
        page = client.get(url.group(1).replace("&amp;", "&"))
        back = refs(page) + back
        url = re.search(r'rel="prev" href="([^"]+)"', page.get_data(as_text=True))
    assert back == seen


def test_filters_survive_paging(app, client, login_as, make_request, monkeypatch):
    login_as("handler")
    for _ in range(7):
        make_request(right=Right.erasure)
    make_request(right=Right.access)
    monkeypatch.setitem(app.config, "STAFF_PAGE_SIZE", 5)
    first = client.get("/staff/?right=erasure")
    nxt = re.search(r'rel="next" href="([^"]+)"', first.get_data(as_text=True)).group(1)
    assert "right=erasure" in nxt
    assert len(refs(client.get(nxt.replace("&amp;", "&")))) == 2


def test_csv_register_follows_the_filter_and_holds_no_identities(
    client, login_as, make_request, db
):
    login_as("auditor")
    erasure = make_request(
        right=Right.erasure, subject_name="Cecilia Hemlig", subject_email="cecilia@example.se"
    )
    make_request(right=Right.access)
    response = client.submit("/staff/export.csv", {"right": "erasure"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    body = response.get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][:3] == ["reference", "right", "regime"]
    assert [r[0] for r in rows[1:]] == [erasure.reference]
    assert "Cecilia" not in body and "cecilia@example.se" not in body
    exported = db.exec(select(AuditEvent).where(AuditEvent.action == "register.exported")).all()
    assert exported and exported[-1].payload == {"filter": {"right": "erasure"}}


def test_csv_export_is_not_a_get(client, login_as):
    login_as("handler")
    assert client.get("/staff/export.csv").status_code == 405


def test_bulk_assign_and_close_as_spam(client, login_as, make_request, make_staff, db):
    login_as("handler")
    colleague = make_staff("handler", name="Kollega")
    a, b, c = make_request(), make_request(), make_request()
    response = client.submit(
        "/staff/bulk", {"ids": [a.id, b.id], "action": "assign", "assignee": colleague.id}
    )
    assert response.status_code == 302
    db.expire_all()
    assert (
        db.get(Request, a.id).assignee_id == colleague.id
        and db.get(Request, b.id).assignee_id == colleague.id
    )
    assert db.get(Request, c.id).assignee_id is None

    client.submit(
        "/staff/bulk", {"ids": [c.id], "action": "spam", "note": "Reklam för solglasögon"}
    )
    db.expire_all()
    closed = db.get(Request, c.id)
    assert closed.status == RequestStatus.closed and closed.close_reason.value == "spam"
    assert closed.close_note == "Reklam för solglasögon"


def test_bulk_close_without_reason_changes_nothing(client, login_as, make_request, db):
    login_as("handler")
    item = make_request()
    response = client.submit(
        "/staff/bulk", {"ids": [item.id], "action": "duplicate", "note": ""}, follow_redirects=True
    )
    assert "Ange varför" in response.get_data(as_text=True)
    db.expire_all()
    assert db.get(Request, item.id).status == RequestStatus.unverified


def test_auditors_see_the_queue_but_cannot_bulk_change(client, login_as, make_request):
    login_as("auditor")
    item = make_request()
    html = client.get("/staff/").get_data(as_text=True)
    assert item.reference in html and 'id="bulk"' not in html
    assert (
        client.submit("/staff/bulk", {"ids": [item.id], "action": "spam", "note": "x"}).status_code
        == 403
    )


def test_masked_personnummer_in_the_queue(client, login_as, make_request):
    login_as("handler")
    make_request(subject_pnr_masked="19640823-****")
    html = client.get("/staff/").get_data(as_text=True)
    assert "19640823-****" in html


def test_bulk_reminder_to_verify_sends_a_fresh_code(app, client, login_as, make_request, db, smtp):
    from dsr import notifications
    from tests.support import text_body

    login_as("handler")
    waiting = make_request(status=RequestStatus.unverified, subject_email="vantar@example.se")
    done = make_request(status=RequestStatus.verified, subject_email="klar@example.se")
    response = client.submit(
        "/staff/bulk", {"ids": [waiting.id, done.id], "action": "remind"}, follow_redirects=True
    )
    html = response.get_data(as_text=True)
    assert "1 ärenden uppdaterades." in html and done.reference in html
    notifications.deliver_pending(db, utcnow(), app.config)
    db.commit()
    [mail] = smtp.to("vantar@example.se")
    assert re.search(r"\b\d{6}\b", text_body(mail))
    assert smtp.to("klar@example.se") == []


def test_one_status_at_a_time(client, login_as, make_request):
    login_as("handler")
    waiting = make_request(status=RequestStatus.unverified)
    verified = make_request(status=RequestStatus.verified)
    done = make_request(status=RequestStatus.completed, closed_at=utcnow())
    assert refs(client.get("/staff/?status=verified")) == [verified.reference]
    assert refs(client.get("/staff/?status=unverified")) == [waiting.reference]
    assert refs(client.get("/staff/?status=completed")) == [done.reference]


def test_how_soon_is_due_soon_is_a_setting(app, client, db, login_as, make_request, monkeypatch):
    login_as("handler")
    request = make_request()
    in_eight_days = date.today() + timedelta(days=8)
    request.due_target = request.due_legal = request.first_due_legal = in_eight_days
    db.add(request)
    db.commit()

    assert app.config["DEADLINES_DUE_SOON_DAYS"] == 5
    assert refs(client.get("/staff/?due=due_soon")) == []
    assert refs(client.get("/staff/?due=later")) == [request.reference]

    monkeypatch.setitem(app.config, "DEADLINES_DUE_SOON_DAYS", 10)
    assert refs(client.get("/staff/?due=due_soon")) == [request.reference]
    html = client.get("/staff/").get_data(as_text=True)
    assert 'class="due-soon"' in html.split(request.reference)[0].rsplit("<tr", 1)[1]
