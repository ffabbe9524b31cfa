"""Public references: DSR-<year>-<number>, one sequence per year, never shared."""

import threading

from dsr.db import get_db
from dsr.intake import next_reference


def test_references_count_up_per_year(db):
    assert next_reference(db, 2026) == "DSR-2026-000001"
    assert next_reference(db, 2026) == "DSR-2026-000002"
    assert next_reference(db, 2027) == "DSR-2027-000001"
    assert next_reference(db, 2026) == "DSR-2026-000003"


def test_concurrent_intakes_never_share_a_reference(make_app, fresh_database):
    app = make_app(DATABASE_URL=fresh_database)
    database = get_db(app)
    issued: list[str] = []
    lock = threading.Lock()

    def take(n):
        with app.app_context():
            for _ in range(n):
                with database.transaction() as session:
                    ref = next_reference(session, 2026)
                with lock:
                    issued.append(ref)

    threads = [threading.Thread(target=take, args=(15,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(issued) == 60 and len(set(issued)) == 60
    assert sorted(issued)[-1] == "DSR-2026-000060"
