"""Portability straight to another controller whose server takes the call and never answers.

The other controller is a real server on loopback. One kind accepts the TCP connection and
says nothing at all (the TLS handshake never finishes); another completes TLS, reads the
whole POST and then keeps silent instead of answering; a third answers a byte at a time,
each byte well within the timeout, so that only a deadline for the whole send ends it. With ``PORTABILITY_TIMEOUT_SECONDS``
at one second the handler's "execute" must come back within a few seconds, the failure must
be shown where staff look (the plan page, the audit log, the completion check) and nothing
may be marked delivered. When the address then answers properly, "send again" delivers.
"""

import html
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from dsr.audit import AuditEvent
from dsr.models import PlanState, Request, Right
from dsr.rights import service
from dsr.workflow import completion_blockers
from tests.rights_support import (  # noqa: F401 - english is a fixture
    NOW,
    demo_profile,
    english,
    profile_in,
    subject_request,
)
from tests.test_rights_portability import self_signed

pytestmark = pytest.mark.usefixtures("english")

TIMEOUT = 1.0
#: Generous for a loaded machine, far below the 20 s default the setting replaces.
BOUND = 6.0


class Mute:
    """Accepts connections on loopback and never sends a byte."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def __enter__(self) -> "Mute":
        self.thread.start()
        return self

    def close(self) -> None:
        # Shutting the listener down wakes the thread blocked in accept(); close alone
        # would leave the port held until then.
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for conn in self.accepted:
            conn.close()
        self.thread.join(timeout=5)

    @property
    def calls(self) -> int:
        return len(self.accepted)


class HTTPSServer:
    """An HTTPS server on loopback; ``answer`` False reads each POST and then says nothing."""

    def __init__(
        self, tls: tuple[Path, Path], *, answer: bool, port: int = 0, trickle: bool = False
    ) -> None:
        self.bodies: list[bytes] = []
        self.release = threading.Event()
        bodies, release = self.bodies, self.release

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                if trickle:
                    # An answer a byte at a time, each well within the timeout: only a
                    # deadline for the whole send stops waiting for it.
                    for byte in b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n":
                        if release.wait(TIMEOUT / 3):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    return
                if not answer:
                    release.wait(30)
                    return
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "HTTPSServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    @property
    def calls(self) -> int:
        return len(self.bodies)


@pytest.fixture
def tls(tmp_path):
    return self_signed(tmp_path)


@pytest.fixture
def shop(app, db, backend, databases, tmp_path, frozen_time, tls, monkeypatch):
    """The default demo shop; the test's certificate trusted, loopback allowed, 1 s timeout."""
    frozen_time(NOW)
    monkeypatch.setitem(app.config, "PORTABILITY_CA_FILE", str(tls[0]))
    monkeypatch.setitem(app.config, "PORTABILITY_ALLOW_PRIVATE_ADDRESSES", True)
    monkeypatch.setitem(app.config, "PORTABILITY_TIMEOUT_SECONDS", TIMEOUT)
    with profile_in(app, demo_profile("default", backend, databases, tmp_path)) as profile:
        yield profile


def press(client, request: Request, action: str) -> str:
    response = client.submit(f"/staff/requests/{request.reference}/plan/{action}?lang=en", {})
    assert response.status_code == 302, response.get_data(as_text=True)
    return plan_page(client, request)


def plan_page(client, request: Request) -> str:
    page = client.get(f"/staff/requests/{request.reference}/plan?lang=en")
    assert page.status_code == 200
    return " ".join(html.unescape(page.get_data(as_text=True)).split())


def events(db, request: Request) -> list[AuditEvent]:
    db.expire_all()
    return list(
        db.exec(
            select(AuditEvent)
            .where(AuditEvent.request_id == request.id)
            .order_by(col(AuditEvent.seq))
        )
    )


def delivery(db, request: Request) -> dict[str, Any]:
    db.expire_all()
    row = service.live_plan(db, request)
    assert row is not None and row.state == PlanState.executed
    return row.outcome["delivery"]


def start_silent(kind: str, tls: tuple[Path, Path]) -> Any:
    if kind == "handshake":
        return Mute().__enter__()
    return HTTPSServer(tls, answer=False, trickle=kind == "trickle").__enter__()


@pytest.mark.parametrize("kind", ["handshake", "response", "trickle"])
def test_a_silent_receiver_times_out_and_a_later_send_is_delivered(
    kind, shop, db, client, login_as, tls
):
    login_as("handler")
    silent = start_silent(kind, tls)
    try:
        address = f"https://127.0.0.1:{silent.port}/import"
        request = subject_request(
            db, Right.portability, details={"delivery": "controller", "recipient_url": address}
        )
        db.commit()
        press(client, request, "make")
        press(client, request, "approve")

        started = time.monotonic()
        page = press(client, request, "execute")
        took = time.monotonic() - started

        # It waited for the server (once), then gave up well before the default 20 s.
        assert silent.calls == 1
        assert TIMEOUT <= took < BOUND, took
        if kind != "handshake":
            # The whole document reached the server before it fell silent.
            assert json.loads(silent.bodies[0])["reference"] == request.reference
    finally:
        silent.close()

    # Recorded as not delivered, with why, and the handler sees it on the plan page.
    sent = delivery(db, request)
    assert sent["status"] == "failed" and sent["attempts"] == 1
    assert sent["http_status"] is None
    assert "timed out" in sent["error"].lower()
    assert "Not delivered" in page and "Delivered</span>" not in page
    assert sent["error"] in page and "Send again" in page
    # The audit log names the failure, and no transfer.
    logged = events(db, request)
    actions = [e.action for e in logged]
    assert "portability.transmission_failed" in actions
    assert "portability.transmitted" not in actions
    failed = next(e for e in logged if e.action == "portability.transmission_failed")
    assert "timed out" in (failed.reason or "").lower()
    assert failed.payload["host"] == "127.0.0.1" and failed.payload["http_status"] is None
    # The request cannot be completed as if the data had been sent.
    assert any("other controller" in b for b in completion_blockers(db, request))

    # The other controller's server is up again at the same address, and answers.
    with HTTPSServer(tls, answer=True, port=silent.port) as good:
        page = press(client, request, "send_again")
    assert good.calls == 1
    received = json.loads(good.bodies[0])
    assert received["format"] == "dsr-portability" and received["reference"] == request.reference
    sent = delivery(db, request)
    assert sent["status"] == "delivered" and sent["attempts"] == 2 and sent["http_status"] == 201
    assert "Not delivered" not in page and "Delivered" in page
    assert "portability.transmitted" in [e.action for e in events(db, request)]
    assert not [b for b in completion_blockers(db, request) if "other controller" in b]
