"""Portability (Art. 20): scoped content, and sending it to another controller over HTTPS.

The receiving controller is a real HTTPS server on loopback with a certificate made for the
test and trusted by nothing but the test's configuration.
"""

import datetime as dt
import hashlib
import http.server
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlmodel import select

from dsr.audit import AuditEvent
from dsr.models import Right
from dsr.rights import service, steps
from dsr.rights.base import Environment
from dsr.rights.transfer import transmit
from dsr.workflow import WorkflowError, completion_blockers
from tests.rights_support import (  # noqa: F401 - english is a fixture
    HANDLER,
    NOW,
    actions,
    demo_profile,
    english,
    profile_in,
    subject_request,
)

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def shop(app, db, backend, databases, tmp_path, frozen_time):
    frozen_time(NOW)
    with profile_in(app, demo_profile("default", backend, databases, tmp_path)) as profile:
        yield profile


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "receiving controller (test)")])
    # OpenSSL checks validity against the machine's real clock, while these tests freeze
    # Python's: a window around "now" would be the frozen now. Valid for decades instead.
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2099, 12, 31, tzinfo=dt.UTC))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "receiver.pem", directory / "receiver.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Receiver:
    """An HTTPS (or plain HTTP) server that keeps what is POSTed to it."""

    def __init__(self, tls: tuple[Path, Path] | None, answer: tuple[int, dict[str, str]]) -> None:
        received: list[dict] = []
        self.received = received
        status, headers = answer

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, scheme: str = "https", path: str = "/import") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tls(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


@pytest.fixture
def trusting(app, tls, monkeypatch) -> Iterator[None]:
    """The test's certificate trusted, and loopback allowed, for this test only."""
    monkeypatch.setitem(app.config, "PORTABILITY_CA_FILE", str(tls[0]))
    monkeypatch.setitem(app.config, "PORTABILITY_ALLOW_PRIVATE_ADDRESSES", True)
    monkeypatch.setitem(app.config, "PORTABILITY_TIMEOUT_SECONDS", 5.0)
    yield


def test_only_what_the_subject_provided_on_consent_or_contract_is_in_scope(shop, db):
    request = subject_request(db, Right.portability, details={"delivery": "download"})
    row = service.make_plan(db, request, actor=HANDLER)
    tables = {t["table"]: [c["column"] for c in t["columns"]] for t in row.plan["tables"]}
    left_out = {
        t["table"]: {c["column"]: c["reason"] for c in t["columns"]} for t in row.plan["left_out"]
    }
    # Logins and support tickets rest on legitimate interests: out of the export...
    assert "login_events" not in tables and "support_tickets" not in tables
    assert left_out["login_events"] == {
        "logged_in_at": "legal_basis",
        "ip_address": "legal_basis",
        "user_agent": "legal_basis",
    }
    # ...but in the access answer.
    access = service.make_plan(db, subject_request(db, Right.access), actor=HANDLER)
    assert "login_events" in {t["table"] for t in access.plan["tables"]}
    # Given by the subject on contract or consent: in. Made by the controller: out.
    assert "first_name" in tables["customers"] and "newsletter" in tables["customers"]
    assert left_out["customers"]["customer_number"] == "not_provided"
    assert left_out["customers"]["created_at"] == "not_provided"
    assert "credit_checks" not in tables  # the credit agency's findings, not the subject's
    service.approve(db, row, actor=HANDLER)
    outcome = service.execute(db, row, actor=HANDLER)
    document = outcome.document(Environment.current())
    assert (document["format"], document["version"]) == ("dsr-portability", 1)
    by_table = {t["table"]: t for t in document["tables"]}
    (customer,) = by_table["customers"]["records"]
    assert customer["email"] == "astrid.lindqvist@example.com"
    assert "customer_number" not in customer and "personnummer" in customer
    assert json.loads(json.dumps(document)) == document
    assert outcome.as_dict()["delivery"]["status"] == "download"
    assert service.execute(db, row, actor=HANDLER).as_dict() == outcome.as_dict()


def test_sent_straight_to_another_controller_over_https(shop, db, tls, trusting):
    with Receiver(tls, (201, {})) as receiver:
        request = subject_request(
            db,
            Right.portability,
            details={"delivery": "controller", "recipient_url": receiver.url()},
        )
        row = service.make_plan(db, request, actor=HANDLER)
        service.approve(db, row, actor=HANDLER)
        outcome = service.execute(db, row, actor=HANDLER).as_dict()
        (got,) = receiver.received
    delivery = outcome["delivery"]
    assert delivery["status"] == "delivered" and delivery["http_status"] == 201
    assert got["path"] == "/import"
    assert got["headers"]["Content-Type"].startswith("application/json")
    assert got["headers"]["Idempotency-Key"] == f"{request.reference}:{row.plan_sha256}"
    assert hashlib.sha256(got["body"]).hexdigest() == delivery["sha256"]
    sent = json.loads(got["body"])
    assert sent["format"] == "dsr-portability" and sent["reference"] == request.reference
    assert "transmitted" in " ".join(actions(db, request))
    (event,) = db.exec(
        select(AuditEvent).where(AuditEvent.action == "portability.transmitted")
    ).all()
    assert event.payload["host"] == "127.0.0.1" and "astrid" not in repr(event.payload).lower()
    assert not [b for b in completion_blockers(db, request) if "other controller" in b]


def test_plain_http_is_refused(shop, db, trusting):
    with Receiver(None, (200, {})) as receiver:
        request = subject_request(
            db,
            Right.portability,
            details={"delivery": "controller", "recipient_url": receiver.url("http")},
        )
        row = service.make_plan(db, request, actor=HANDLER)
        with pytest.raises(WorkflowError, match="https://"):
            service.approve(db, row, actor=HANDLER)
        result = transmit(
            receiver.url("http"), {"a": 1}, Environment.current().config, idempotency_key="k"
        )
        assert not result.ok and "https://" in result.error
        assert receiver.received == []


def test_a_failed_transfer_blocks_completion_until_sent_or_offered_otherwise(
    shop, db, tls, app, monkeypatch
):
    monkeypatch.setitem(app.config, "PORTABILITY_CA_FILE", str(tls[0]))
    with Receiver(tls, (201, {})) as receiver:
        request = subject_request(
            db,
            Right.portability,
            details={"delivery": "controller", "recipient_url": receiver.url()},
        )
        row = service.make_plan(db, request, actor=HANDLER)
        service.approve(db, row, actor=HANDLER)
        # Loopback is a private address: refused unless the operator allows it.
        outcome = service.execute(db, row, actor=HANDLER).as_dict()
        assert outcome["delivery"]["status"] == "failed"
        assert "private network" in outcome["delivery"]["error"]
        assert receiver.received == []
        assert any("other controller" in b for b in completion_blockers(db, request))
        monkeypatch.setitem(app.config, "PORTABILITY_ALLOW_PRIVATE_ADDRESSES", True)
        steps.send_again(db, row, actor=HANDLER)
        assert row.outcome["delivery"]["status"] == "delivered"
        assert row.outcome["delivery"]["attempts"] == 2
        assert len(receiver.received) == 1
        steps.send_again(db, row, actor=HANDLER)  # delivered: not sent twice
        assert len(receiver.received) == 1
    assert not [b for b in completion_blockers(db, request) if "other controller" in b]


def test_a_redirect_to_another_host_is_not_followed(shop, db, tls, trusting):
    with Receiver(tls, (201, {})) as elsewhere:
        target = f"https://localhost:{elsewhere.port}/steal"
        with Receiver(tls, (307, {"Location": target})) as receiver:
            result = transmit(
                receiver.url(), {"a": 1}, Environment.current().config, idempotency_key="k"
            )
            assert not result.ok and result.status == 307
            assert "another host" in result.error
            assert len(receiver.received) == 1 and elsewhere.received == []


def test_an_untrusted_certificate_is_refused(shop, db, app, monkeypatch, tmp_path):
    monkeypatch.setitem(app.config, "PORTABILITY_ALLOW_PRIVATE_ADDRESSES", True)
    # A certificate nobody told the service to trust.
    (tmp_path / "other").mkdir()
    other = self_signed(tmp_path / "other")
    with Receiver(other, (201, {})) as receiver:
        result = transmit(
            receiver.url(), {"a": 1}, Environment.current().config, idempotency_key="k"
        )
    assert not result.ok and "CERTIFICATE_VERIFY_FAILED" in result.error
    assert receiver.received == []


def test_offering_a_download_instead(shop, db, app, monkeypatch):
    request = subject_request(
        db,
        Right.portability,
        details={"delivery": "controller", "recipient_url": "https://127.0.0.1:9/import"},
    )
    row = service.make_plan(db, request, actor=HANDLER)
    service.approve(db, row, actor=HANDLER)
    assert service.execute(db, row, actor=HANDLER).as_dict()["delivery"]["status"] == "failed"
    with pytest.raises(WorkflowError, match="Note why"):
        steps.offer_download(db, row, actor=HANDLER, note="")
    steps.offer_download(db, row, actor=HANDLER, note="Their server refuses us; agreed by phone")
    assert row.outcome["delivery"]["status"] == "download"
    assert not [b for b in completion_blockers(db, request) if "other controller" in b]
