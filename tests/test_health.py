"""/healthz tells a load balancer whether the database answers and the scheduler lives."""

from datetime import timedelta

from dsr import scheduler
from dsr.db import get_db, utcnow


def test_healthy_with_a_fresh_heartbeat(app, client, db):
    scheduler.record_heartbeat(db, utcnow(), app.config, instance="test-scheduler")
    db.commit()
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["scheduler"]["stale"] is False
    assert body["scheduler"]["last_heartbeat"] is not None


def test_a_stale_scheduler_is_reported_but_the_service_still_answers(app, client, db):
    scheduler.record_heartbeat(db, utcnow() - timedelta(hours=1), app.config, instance="old")
    db.commit()
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["scheduler"]["stale"] is True


def test_no_scheduler_ever_is_stale(client):
    body = client.get("/healthz").get_json()
    assert body["scheduler"] == {"last_heartbeat": None, "stale": True}


def test_unreachable_database_gives_503(make_app, backend, tmp_path):
    if backend == "postgresql":
        url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    else:
        url = f"sqlite:///{tmp_path}"  # a directory: SQLite cannot open it
    app = make_app(DATABASE_URL=url)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "unreachable"}
    get_db(app).dispose()


def test_staff_pages_warn_while_the_scheduler_is_silent(app, client, db, login_as):
    login_as("handler")
    silent = client.get("/staff/").get_data(as_text=True)
    assert 'class="banner banner-warning"' in silent

    scheduler.record_heartbeat(db, utcnow(), app.config, instance="test-scheduler")
    db.commit()
    alive = client.get("/staff/").get_data(as_text=True)
    assert 'class="banner banner-warning"' not in alive


def test_the_public_pages_never_show_the_scheduler_warning(client):
    assert 'class="banner banner-warning"' not in client.get("/").get_data(as_text=True)
