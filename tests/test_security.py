"""Cross-cutting protections: CSRF on every form, headers, and personal data out of logs."""

import logging

from sqlalchemy import func, select
from sqlmodel import SQLModel
from werkzeug.routing import IntegerConverter

from dsr import logmask


def routes(app, method):
    """(rule, url) for every route answering ``method``, arguments filled with placeholders."""
    adapter = app.url_map.bind("dsr.test")
    for rule in app.url_map.iter_rules():
        if method not in rule.methods or rule.endpoint.startswith(("api.", "static")):
            continue
        values = {
            arg: 1 if isinstance(rule._converters[arg], IntegerConverter) else "placeholder"
            for arg in rule.arguments
        }
        yield rule, adapter.build(rule.endpoint, values, method=method)


def test_every_post_route_refuses_a_missing_csrf_token(app, client, login_as):
    login_as("admin")
    checked = 0
    for rule, url in routes(app, "POST"):
        response = client.post(url, data={})
        assert response.status_code == 400, f"{rule.rule} accepted a POST without a CSRF token"
        checked += 1
    assert checked >= 2


def row_counts(db):
    return {
        table.name: db.scalar(select(func.count()).select_from(table))
        for table in SQLModel.metadata.sorted_tables
    }


def test_no_get_request_changes_anything(app, client, login_as, db):
    """A GET never changes state: every table has the same rows before and after."""
    login_as("admin")
    before = row_counts(db)
    visited = 0
    for rule, url in routes(app, "GET"):
        client.get(url)
        visited += 1
    db.expire_all()
    assert row_counts(db) == before
    assert visited >= 4


def test_every_rendered_post_form_carries_a_csrf_token(client, login_as):
    from tests.support import iter_forms

    login_as("admin")
    for page in ("/", "/staff/", "/staff/admin/config", "/staff/login"):
        html = client.get(page).get_data(as_text=True)
        for form in iter_forms(html):
            if 'method="post"' in form.lower():
                assert 'name="csrf_token"' in form, (
                    f"form without CSRF token on {page}: {form[:120]}"
                )


def test_security_headers(client):
    response = client.get("/")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_personnummer_are_masked_in_log_output(caplog):
    logmask.install()
    logger = logging.getLogger("dsr.test")
    with caplog.at_level(logging.INFO):
        logger.info("lookup for %s and %s", "19640823-3234", "640823+3234")
        logger.info("plain 196408233234 and 7010632391")
    text = caplog.text
    for raw in ("3234", "2391"):
        assert raw not in text
    assert "19640823-****" in text and "640823+****" in text


def test_secrets_in_urls_are_masked_in_log_output(caplog):
    logmask.install()
    logger = logging.getLogger("werkzeug")
    token = "Abc123_-xyzXYZ0987654321abcdefgh"
    with caplog.at_level(logging.INFO):
        logger.info('"GET /status/%s HTTP/1.1" 200', token)
        logger.info('"GET /verify?token=%s&lang=en HTTP/1.1" 200', token)
    assert token not in caplog.text
    assert "/status/[secret]" in caplog.text and "token=[secret]" in caplog.text


def test_client_address_comes_from_the_proxy_only_when_one_is_trusted(make_app):
    from dsr.web.limits import client_ip

    headers = {"X-Forwarded-For": "203.0.113.7"}
    direct = make_app()
    with direct.test_request_context(
        "/", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.1"}
    ):
        assert client_ip() == "10.0.0.1"  # nobody in front: the header could be forged
    proxied = make_app(PROXY_TRUSTED_HOPS=1)
    seen = {}

    @proxied.get("/whoami-for-test")
    def whoami():
        seen["ip"] = client_ip()
        return "ok"

    proxied.test_client().get(
        "/whoami-for-test", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.1"}
    )
    assert seen["ip"] == "203.0.113.7"
