"""The audit log is a hash chain: editing or removing any event is detected."""

import threading

from sqlalchemy import delete, text, update

from dsr import audit
from dsr.audit import Actor
from dsr.db import get_db
from dsr.models import AuditEvent


def append_three(db):
    actor = Actor.system("test")
    events = [
        audit.record(db, "test.one", actor, reason="first", payload={"n": 1}),
        audit.record(db, "test.two", actor, payload={"email": "anna@example.se"}),
        audit.record(db, "test.three", actor, reason="third"),
    ]
    db.commit()
    return events


def test_events_chain_onto_each_other(db):
    one, two, three = append_three(db)
    assert [one.seq, two.seq, three.seq] == [1, 2, 3]
    assert one.prev_hash == audit.GENESIS_HASH
    assert two.prev_hash == one.hash and three.prev_hash == two.hash
    assert audit.verify_chain(db) is None


def test_an_edited_event_is_named(db):
    _, two, _ = append_three(db)
    db.execute(update(AuditEvent).where(AuditEvent.id == two.id).values(reason="nothing to see"))
    db.expire_all()
    problem = audit.verify_chain(db)
    assert problem is not None and problem.seq == 2
    assert "altered" in problem.message


def test_an_edited_payload_is_named(db):
    _, two, _ = append_three(db)
    db.execute(
        update(AuditEvent)
        .where(AuditEvent.id == two.id)
        .values(payload={"email": "other@example.se"})
    )
    db.expire_all()
    problem = audit.verify_chain(db)
    assert problem is not None and problem.seq == 2 and "payload" in problem.message


def test_a_deleted_event_is_named(db):
    _, two, _ = append_three(db)
    db.execute(delete(AuditEvent).where(AuditEvent.id == two.id))
    db.expire_all()
    problem = audit.verify_chain(db)
    assert problem is not None and problem.seq == 2
    assert "deleted" in problem.message


def test_a_deleted_and_renumbered_event_is_still_caught(db):
    _, two, three = append_three(db)
    db.execute(delete(AuditEvent).where(AuditEvent.id == two.id))
    db.execute(update(AuditEvent).where(AuditEvent.id == three.id).values(seq=2))
    db.expire_all()
    problem = audit.verify_chain(db)
    assert problem is not None and problem.seq == 2


def test_removing_a_payload_under_retention_keeps_the_chain_valid(db):
    _, two, _ = append_three(db)
    audit.remove_payload(db, two)
    db.commit()
    db.expire_all()
    assert db.get(AuditEvent, two.id).payload is None
    assert audit.verify_chain(db) is None


def test_cli_exits_zero_on_intact_chain_and_names_the_bad_event_otherwise(app, db):
    _, two, _ = append_three(db)
    result = app.test_cli_runner().invoke(args=["dsr", "audit-verify"])
    assert result.exit_code == 0, result.output
    assert "intact: 3 events" in result.output
    db.execute(update(AuditEvent).where(AuditEvent.id == two.id).values(action="test.forged"))
    db.commit()
    result = app.test_cli_runner().invoke(args=["dsr", "audit-verify"])
    assert result.exit_code == 1
    assert f"event #2 (id {two.id})" in result.output


def test_concurrent_writers_never_fork_the_chain(fresh_database, make_app):
    """Several transactions appending at once still produce one unbroken chain."""
    app = make_app(DATABASE_URL=fresh_database)
    database = get_db(app)
    errors = []

    def writer(n):
        try:
            with app.app_context():
                for i in range(10):
                    with database.transaction() as session:
                        audit.record(
                            session, "test.concurrent", Actor.system(f"w{n}"), payload={"i": i}
                        )
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with app.app_context(), database.transaction() as session:
        assert session.execute(text("SELECT count(*) FROM audit_events")).scalar() == 40
        assert audit.verify_chain(session) is None
    database.dispose()


def test_times_in_any_zone_are_chained_as_utc(db):
    from datetime import datetime

    audit.record(
        db,
        "test.local_time",
        Actor.system("test"),
        at=datetime.fromisoformat("2026-03-05T10:00:00+01:00"),
    )
    db.commit()
    db.expire_all()
    assert audit.verify_chain(db) is None


def test_removing_content_drops_the_reason_too_and_the_chain_holds(db):
    event = audit.record(
        db, "test.reason", Actor.system("test"), reason="Anna ringde om sin son", payload={"x": 1}
    )
    db.commit()
    audit.remove_payload(db, event)
    db.commit()
    db.expire_all()
    stored = db.get(AuditEvent, event.id)
    assert stored.reason is None and stored.payload is None
    assert audit.verify_chain(db) is None


def test_a_removed_reason_cannot_be_put_back_differently(db):
    event = audit.record(db, "test.reason", Actor.system("test"), reason="original")
    db.commit()
    audit.remove_payload(db, event)
    db.commit()
    db.execute(update(AuditEvent).where(AuditEvent.id == event.id).values(reason="forged"))
    db.expire_all()
    problem = audit.verify_chain(db)
    assert problem is not None and problem.seq == event.seq
