"""The operator's commands: migrate, create-staff, seed-demo."""

from sqlalchemy import select

from dsr import accounts
from dsr.models import StaffRole, StaffUser


def test_create_staff_reads_the_password_from_stdin(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["dsr", "create-staff", "Karin@Example.se", "--role", "handler"],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created handler karin@example.se" in result.output
    user = db.scalars(select(StaffUser).where(StaffUser.email == "karin@example.se")).one()
    assert user.role == StaffRole.handler
    assert accounts._hasher.verify(user.password_hash, "a long enough password")


def test_create_staff_refuses_short_passwords_and_duplicates(app, db, make_staff):
    runner = app.test_cli_runner()
    short = runner.invoke(
        args=["dsr", "create-staff", "x@example.se", "--role", "admin"], input="short\n"
    )
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    existing = make_staff(StaffRole.auditor)
    again = runner.invoke(
        args=["dsr", "create-staff", existing.email, "--role", "admin"],
        input="a long enough password\n",
    )
    assert again.exit_code == 1 and "already exists" in again.output


def test_create_staff_refuses_an_unknown_role(app, db):
    result = app.test_cli_runner().invoke(
        args=["dsr", "create-staff", "x@example.se", "--role", "boss"],
        input="a long enough password\n",
    )
    assert result.exit_code == 2 and "boss" in result.output


def test_seed_demo_needs_development_and_is_harmless_twice(make_app, fresh_database):
    app = make_app(DATABASE_URL=fresh_database, ENV="development")
    runner = app.test_cli_runner()
    first = runner.invoke(args=["dsr", "seed-demo"])
    assert first.exit_code == 0, first.output
    assert "Demo data loaded: staff accounts and 9 requests on the queue." in first.output
    for login in (
        "admin@example.com / dsr-demo-admin",
        "handler@example.com / dsr-demo-handler",
        "auditor@example.com / dsr-demo-auditor",
    ):
        assert login in first.output
    second = runner.invoke(args=["dsr", "seed-demo"])
    assert second.exit_code == 0 and "Demo data loaded" not in second.output
    client = app.test_client()
    token = client.csrf_token()
    response = client.post(
        "/staff/login",
        data={"email": "admin@example.com", "password": "dsr-demo-admin", "csrf_token": token},
    )
    assert response.status_code == 302


def test_seed_demo_is_refused_outside_development(app, db):
    result = app.test_cli_runner().invoke(args=["dsr", "seed-demo"])
    assert result.exit_code == 1 and "only loaded with env = development" in result.output


def test_the_demo_queue_has_requests_in_several_states(make_app, fresh_database):
    from sqlmodel import select as sql_select

    from dsr import audit
    from dsr.db import get_db
    from dsr.models import Request, RequestStatus

    app = make_app(DATABASE_URL=fresh_database, ENV="development")
    assert app.test_cli_runner().invoke(args=["dsr", "seed-demo"]).exit_code == 0
    with app.app_context(), get_db(app).transaction() as session:
        requests = session.exec(sql_select(Request)).all()
        statuses = {r.status for r in requests}
        assert {
            RequestStatus.unverified,
            RequestStatus.verified,
            RequestStatus.in_progress,
            RequestStatus.awaiting_subject,
            RequestStatus.closed,
        } <= statuses
        assert audit.verify_chain(session) is None


def test_sample_answer_runs_the_whole_flow_on_a_throwaway_demo(app, db, tmp_path):
    import json
    import zipfile

    from pypdf import PdfReader

    from tests.exports_support import validator

    out = tmp_path / "answers"
    result = app.test_cli_runner().invoke(
        args=["dsr", "sample-answer", "--profile", "kliently", "--right", "access", "--out", out]
    )
    assert result.exit_code == 0, result.output
    assert "access: DSR-" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["access.json", "access.pdf", "access.zip"]
    doc = json.loads((out / "access.json").read_text(encoding="utf-8"))
    assert validator().is_valid(doc)
    assert doc["subject"]["name"] == "Astrid Lindqvist" and doc["summary"]["records"] > 0
    text = "".join(page.extract_text() for page in PdfReader(out / "access.pdf").pages)
    assert "Astrid" in text and "Sida 1 av" in text
    with zipfile.ZipFile(out / "access.zip") as bundle:
        assert bundle.read("answer.json") == (out / "access.json").read_bytes()
    # The configured database saw nothing of it.
    from dsr.models import Request

    assert db.scalars(select(Request)).all() == []


def test_sample_answer_refuses_a_right_the_profile_does_not_offer(app, tmp_path):
    result = app.test_cli_runner().invoke(
        args=["dsr", "sample-answer", "--profile", "cling", "--right", "human_review"]
        + ["--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "does not offer human_review" in result.output
