"""Retention: long-closed requests lose their personal data, keep their statistics, and the
audit chain still verifies. Old rate-limit counters go too."""

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from dsr import audit, crypto, notifications, ratelimit
from dsr.audit import Actor
from dsr.jobs import retention
from dsr.models import (
    AuditEvent,
    Channel,
    EmailOutbox,
    Export,
    ExportState,
    LoginFlow,
    MessageDirection,
    OidcLogin,
    OutboxStatus,
    PauseReason,
    RateLimitCounter,
    Request,
    RequestMessage,
    RequestPause,
    RequestStatus,
    Right,
    TokenPurpose,
    VerificationToken,
)

RECEIVED = datetime.fromisoformat("2023-01-10T09:00:00+01:00")
CLOSED = datetime.fromisoformat("2023-02-01T15:00:00+01:00")
NAME, EMAIL, PHONE, PNR = "Sven Svensson", "sven.svensson@example.se", "070-1234567", "196408233234"
PROVEN_PNR = "198503120423"


@pytest.fixture
def received(frozen_time):
    frozen_time(RECEIVED)


def closed_request(app, db, make_request, *, closed_at=CLOSED, email=EMAIL):
    """A completed erasure request with everything a real one collects about its subject."""
    request = make_request(
        received_at=RECEIVED,
        right=Right.erasure,
        channel=Channel.email,
        language="en",
        subject_name=NAME,
        subject_email=email,
        subject_phone=PHONE,
        subject_pnr_encrypted=crypto.encrypt(PNR, "personnummer"),
        subject_pnr_hmac=crypto.keyed_hash(PNR, "personnummer"),
        subject_pnr_masked="19640823-****",
        # Proven by e-legitimation, differing from the typed one, never decided by staff.
        eid_pnr_encrypted=crypto.encrypt(PROVEN_PNR, crypto.PNR_LABEL),
        eid_pnr_masked="19850312-****",
        details={"what": f"Please erase everything about {NAME}, customer 4711"},
        assurance_note=f"Called {PHONE}, {NAME} confirmed the order number",
    )
    audit.record(
        db,
        "request.created",
        Actor.subject(),
        request=request,
        payload={"name": NAME, "email": email},
        public=True,
        at=RECEIVED.astimezone(UTC),  # the chain hashes the time as stored: in UTC
    )
    db.add(
        RequestMessage(
            request_id=request.id,
            direction=MessageDirection.from_subject,
            body=f"Hi, this is {NAME}",
        )
    )
    db.add(
        RequestPause(
            request_id=request.id,
            reason=PauseReason.identity,
            question=f"{NAME}, please confirm your address",
            started_at=RECEIVED,
            ended_at=RECEIVED + timedelta(days=1),
        )
    )
    db.add(
        VerificationToken(
            purpose=TokenPurpose.status, request_id=request.id, token_hash=f"s-{request.id}"
        )
    )
    # An e-legitimation whose sign-in is still on record (it would be purged on its own).
    db.add(
        OidcLogin(
            flow=LoginFlow.eid,
            state_hash=f"state-{request.id}",
            browser_hash="browser",
            nonce="nonce",
            code_verifier_encrypted="verifier",
            request_id=request.id,
            return_to_encrypted=crypto.encrypt("status-token", "oidc:return"),
            created_at=RECEIVED,
            expires_at=RECEIVED + timedelta(minutes=10),
        )
    )
    notifications.queue_email(
        db,
        "request_expired",
        email,
        language="en",
        context={
            "reference": request.reference,
            "days": 14,
            "received_at": RECEIVED,
            "start_url": "http://dsr.test/",
        },
        request=request,
    )
    request.status = RequestStatus.completed
    request.closed_at = closed_at
    db.add(request)
    audit.record(
        db,
        "request.completed",
        Actor.system("test"),
        request=request,
        reason="Erased from the customer database",
        payload={"erased": {"customers": 1}, "contact": email},
        at=closed_at.astimezone(UTC),
    )
    db.commit()
    return request


def answer_file(app, db, request, name):
    directory = Path(app.config["DATA_DIR"]) / "exports"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(b"encrypted")
    db.add(
        Export(
            request_id=request.id,
            state=ExportState.ready,
            path=name,
            expires_at=CLOSED + timedelta(days=3650),
        )
    )
    db.commit()
    return directory / name


def every_stored_text(db):
    """Everything in the database as text, to search it the way an auditor would.

    Hex digests (hashes of tokens, of audit events) are blanked out: they hold nothing
    readable, and a short number like 4711 turns up inside one by chance, depending on
    which row ids earlier tests used.
    """
    seen = []
    for table in inspect(db.get_bind()).get_table_names():
        if table in {"apscheduler_jobs", "alembic_version"}:
            continue
        for row in db.execute(text(f'SELECT * FROM "{table}"')).all():
            seen.append(f"{table}: {tuple(row)}")
    return re.sub(r"\b[0-9a-f]{32,}\b", "<digest>", "\n".join(seen))


def test_three_years_after_closing_the_personal_data_is_gone_and_the_facts_stay(
    app, db, make_request, received
):
    request = closed_request(app, db, make_request)
    path = answer_file(app, db, request, "answer.zip.enc")
    reference = request.reference

    almost = CLOSED.replace(year=2026) - timedelta(minutes=1)
    assert retention.remove_personal_data(db, almost, app.config) == 0
    now = CLOSED.replace(year=2026) + timedelta(minutes=1)
    assert retention.remove_personal_data(db, now, app.config) == 1
    db.commit()
    assert retention.remove_personal_data(db, now + timedelta(days=1), app.config) == 0

    stored = every_stored_text(db)
    for personal in (NAME, "Sven", EMAIL, PHONE, PNR, "4711", "19640823", PROVEN_PNR, "19850312"):
        assert personal not in stored, f"{personal!r} is still stored"

    db.expire_all()
    request = db.get(Request, request.id)
    assert request.anonymized_at == now
    # What statistics need is still there.
    assert (request.reference, request.right, request.channel) == (
        reference,
        Right.erasure,
        Channel.email,
    )
    assert request.status == RequestStatus.completed
    assert request.received_at == RECEIVED and request.closed_at == CLOSED
    assert request.due_legal == date(2023, 2, 10)
    assert request.details == {}

    assert db.scalars(select(VerificationToken)).all() == []
    assert db.scalars(select(OidcLogin)).all() == []
    [message] = db.scalars(select(RequestMessage)).all()
    assert message.body is None
    [email] = db.scalars(select(EmailOutbox)).all()
    assert email.body_text_encrypted is None and email.body_html_encrypted is None
    assert email.status == OutboxStatus.dead  # never sent, and now it cannot be
    [export] = db.scalars(select(Export)).all()
    assert export.purged_at == now and export.path is None and not path.exists()

    events = db.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    by_action = {e.action: e for e in events}
    assert by_action["request.created"].payload is None
    assert by_action["request.created"].payload_removed_at == now
    # Staff's words about the case may describe the person: they go too.
    assert by_action["request.completed"].reason is None
    assert by_action["request.completed"].payload_removed_at == now
    anonymized = by_action["request.anonymized"]
    assert anonymized.request_id == request.id and anonymized.actor_label == "scheduler"
    assert anonymized.payload["audit_payloads_removed"] == 2
    assert audit.verify_chain(db) is None


def test_younger_closed_requests_and_open_ones_keep_their_data(app, db, make_request, received):
    old = closed_request(app, db, make_request)
    young = closed_request(
        app, db, make_request, closed_at=CLOSED.replace(year=2025), email="young@example.se"
    )
    still_open = make_request(received_at=RECEIVED, subject_email="open@example.se")
    now = CLOSED.replace(year=2026) + timedelta(days=1)
    assert retention.remove_personal_data(db, now, app.config) == 1
    db.commit()
    for request in (old, young, still_open):
        db.refresh(request)
    assert old.subject_email is None
    assert young.subject_email == "young@example.se" and young.anonymized_at is None
    assert still_open.subject_email == "open@example.se"
    young_event = db.scalars(
        select(AuditEvent).where(
            AuditEvent.request_id == young.id, AuditEvent.action == "request.created"
        )
    ).one()
    assert young_event.payload == {"name": NAME, "email": "young@example.se"}
    assert audit.verify_chain(db) is None


def test_the_retention_period_is_a_setting(app, db, make_request, received):
    closed_request(app, db, make_request)
    config = dict(app.config, RETENTION_CLOSED_REQUEST_YEARS=1)
    assert retention.remove_personal_data(db, CLOSED.replace(year=2024) + timedelta(1), config) == 1


def test_a_leap_day_counts_back_to_the_28th():
    leap = datetime.fromisoformat("2028-02-29T12:00:00+00:00")
    assert retention.years_before(leap, 3) == datetime.fromisoformat("2025-02-28T12:00:00+00:00")


def test_old_rate_limit_counters_are_purged(app, db):
    now = datetime.fromisoformat("2026-03-10T12:00:00+00:00")
    day = ratelimit.Limit(5, timedelta(days=1))
    ratelimit.hit(db, "submit:email:old", day, now=now - timedelta(days=3))
    ratelimit.hit(db, "submit:email:new", day, now=now)
    db.commit()
    assert retention.purge_rate_limits(db, now, app.config) == 1
    assert [c.key for c in db.scalars(select(RateLimitCounter))] == ["submit:email:new"]


def test_stored_plans_lose_their_keys_and_proposals(app, db, make_request, received):
    from dsr.models import PlanState, RequestPlan

    request = closed_request(app, db, make_request)
    db.add(
        RequestPlan(
            request_id=request.id,
            right=Right.rectification,
            state=PlanState.executed,
            approved_at=CLOSED,
            started_at=CLOSED,
            executed_at=CLOSED,
            plan_sha256="0" * 64,
            plan={
                "corrections": [{"proposed": f"{NAME}, Storgatan 1"}],
                "identities": {"email": EMAIL},
            },
            outcome={"changed": [{"key": [4711], "column": "address"}]},
        )
    )
    db.commit()
    retention.remove_personal_data(db, CLOSED.replace(year=2026) + timedelta(days=1), app.config)
    db.commit()
    plan = db.scalars(select(RequestPlan).where(RequestPlan.request_id == request.id)).one()
    assert plan.plan == {} and plan.outcome is None
    assert plan.state == PlanState.executed  # the fact that it ran stays


def test_sign_ins_at_identity_providers_are_purged_a_day_after_they_expire(app, db, make_request):
    from dsr import oidc

    request = make_request()
    now = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    for minutes_ago, flow in ((60 * 24 + 11, LoginFlow.eid), (60 * 24 + 9, LoginFlow.staff_sso)):
        created = now - timedelta(minutes=minutes_ago)
        db.add(
            OidcLogin(
                flow=flow,
                state_hash=oidc.state_hash(f"state-{minutes_ago}"),
                browser_hash=oidc.browser_hash("browser"),
                nonce="n",
                code_verifier_encrypted=crypto.encrypt("v", "oidc:verifier"),
                request_id=request.id if flow == LoginFlow.eid else None,
                return_to_encrypted=crypto.encrypt("/", "oidc:return"),
                created_at=created,
                expires_at=created + oidc.LOGIN_TTL,
            )
        )
    db.flush()
    assert retention.purge_sign_ins(db, now, app.config) == 1
    [kept] = db.scalars(select(OidcLogin)).all()
    assert kept.flow == LoginFlow.staff_sso
