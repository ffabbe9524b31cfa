"""The development mailbox: real SMTP on this machine, readable in the browser."""

import pytest

from dsr import config, devmail, notifications
from dsr.db import get_db, utcnow
from tests.support import free_port


def test_emails_sent_in_development_are_kept_and_shown(make_app, fresh_database, tmp_path):
    port = free_port()
    app = make_app(
        DATABASE_URL=fresh_database, ENV="development", MAIL_DEV_MAILBOX=True, SMTP_PORT=port
    )
    catcher = devmail.start("127.0.0.1", port, app.config["DATA_DIR"])
    try:
        with app.app_context(), get_db(app).transaction() as session:
            notifications.queue_email(
                session,
                "outbox_dead",
                "anna@example.se",
                language="sv",
                context={
                    "attempts": 3,
                    "to": "x@example.se",
                    "subject": "Hej",
                    "reference": None,
                    "error": "550",
                },
            )
        with app.app_context(), get_db(app).transaction() as session:
            assert notifications.deliver_pending(session, utcnow(), app.config) == 1
    finally:
        catcher.stop()
    [kept] = devmail.messages(app.config["DATA_DIR"])
    assert kept.message["To"] == "anna@example.se"
    html = app.test_client().get("/dev/mailbox").get_data(as_text=True)
    assert "Ett e-postmeddelande kunde inte levereras" in html and "anna@example.se" in html


def test_the_mailbox_page_does_not_exist_outside_development(client):
    assert client.get("/dev/mailbox").status_code == 404


def test_the_catcher_is_refused_outside_development(tmp_path):
    with pytest.raises(config.ConfigError, match="development only"):
        config.load(
            tmp_path / "none.toml",
            environ={
                "DSR_ENV": "production",
                "DSR_SECRET_KEY": "s" * 40,
                "DSR_MAIL_DEV_MAILBOX": "true",
            },
        )
