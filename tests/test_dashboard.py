"""The dashboard's figures, checked against requests whose outcome we know."""

from datetime import datetime

from dsr.models import RequestStatus, Right


def at(text):
    return datetime.fromisoformat(text)


def test_figures_and_chart(client, login_as, make_request, frozen_time):
    frozen_time("2026-06-17T12:00:00+02:00")  # a Wednesday
    login_as("auditor")
    # Open: one overdue, one due this week (by Sunday 06-21), one later.
    overdue = make_request(received_at=at("2026-05-01T10:00:00+02:00"), right=Right.erasure)
    make_request(received_at=at("2026-05-19T10:00:00+02:00"))  # due 06-19
    make_request(received_at=at("2026-06-10T10:00:00+02:00"))  # due 07-10
    # Answered: on time in 2 days, late by closing after the due date, and this month.
    make_request(
        received_at=at("2026-06-01T10:00:00+02:00"),
        status=RequestStatus.completed,
        closed_at=at("2026-06-03T10:00:00+02:00"),
    )
    make_request(
        received_at=at("2026-03-02T10:00:00+01:00"),  # due 04-02
        status=RequestStatus.completed,
        closed_at=at("2026-04-10T10:00:00+02:00"),
    )
    make_request(
        received_at=at("2025-05-01T10:00:00+02:00"),
        status=RequestStatus.refused,
        refusal_scope="full",
        refusal_reason="x",
        closed_at=at("2025-05-05T10:00:00+02:00"),  # more than 12 months ago: not counted
    )
    html = client.get("/staff/dashboard").get_data(as_text=True)

    def figure(label):
        block = html.split(label)[0].rsplit('<p class="figure">', 1)[1]
        return block.split("</p>", 1)[0].strip()

    assert figure("Öppna ärenden") == "3"
    assert figure(">Försenade<") == "1"
    assert figure("Förfaller denna vecka") == "1"
    assert figure("Slutförda denna månad") == "1"
    assert figure("Besvarade i tid") == "50 %"
    # Durations of 2 days and 39 days less the hour lost to summer time: median 20.5 days.
    assert figure("Median antal dagar") == "20.5"
    assert overdue.reference in html.split("Försenade ärenden")[1]
    # The chart: an SVG drawn on the server, one bar segment per (month, right) with requests.
    assert "<svg" in html and 'role="img"' in html
    assert html.count("<rect x=") == 4  # 2026-03, 2026-05 (access + erasure), 2026-06
    assert '<th scope="row">2026-05</th>' in html


def test_an_empty_dashboard(client, login_as):
    login_as("handler")
    html = client.get("/staff/dashboard").get_data(as_text=True)
    assert "Inget är försenat." in html
    assert '<p class="figure">–</p>' in html
