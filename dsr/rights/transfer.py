"""Sending a subject's portable data straight to another controller (Art. 20(2)).

The address comes from the subject, so it is treated with suspicion: HTTPS only, with the
server's certificate checked; the host's addresses must be public unless the operator allows
private ones (``portability.allow_private_addresses``), and the connection goes to the very
address that was checked, so a second DNS answer cannot point it inward; a redirect is
followed only to the same host over HTTPS (307/308, which keep the POST); every step has a
timeout. The body is the JSON document, with an ``Idempotency-Key`` so that a retry after a
lost answer does not import twice at a receiver that honours it.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from flask_babel import lazy_gettext as _l

MAX_REDIRECTS = 3


class TransferError(Exception):
    """The address cannot be sent to; ``str()`` is fit to show staff."""


@dataclass(frozen=True)
class TransferResult:
    ok: bool
    host: str
    status: int | None
    error: str | None
    sha256: str
    size: int


def check_url(url: str) -> tuple[str, int, str]:
    """(host, port, path) of an address data may be sent to, or :class:`TransferError`."""
    parts = urlsplit((url or "").strip())
    if parts.scheme != "https":
        raise TransferError(str(_l("Data is only sent to an https:// address.")))
    if not parts.hostname or parts.username or parts.password:
        raise TransferError(str(_l("The address has no host, or carries a password.")))
    try:
        port = parts.port or 443
    except ValueError:
        raise TransferError(str(_l("The address has an invalid port."))) from None
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return parts.hostname, port, path


def _addresses(host: str, port: int, allow_private: bool) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TransferError(f"{host}: {exc.strerror or exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allow_private:
        for address in addresses:
            if not ipaddress.ip_address(address).is_global:
                raise TransferError(
                    str(_l("The address points into a private network; nothing was sent."))
                )
    return addresses


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked IP address, with SNI and certificate check for the host name."""

    def __init__(
        self, host: str, port: int, address: str, context: ssl.SSLContext, timeout: float
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context
        #: Set when the deadline cut the conversation short.
        self.cut_off = False

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)

    def cut(self) -> None:
        """End the conversation now, from another thread: a blocked send or receive returns."""
        self.cut_off = True
        sock = self.sock
        if sock is not None:
            # The plain socket's shutdown, under the TLS layer: the reader blocked in it sees
            # the end of the stream, and the TLS object is left to the thread using it.
            with contextlib.suppress(OSError):  # already closed: nothing left to cut
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _context(config: Mapping[str, Any]) -> ssl.SSLContext:
    context = ssl.create_default_context()
    extra = str(config.get("PORTABILITY_CA_FILE") or "")
    if extra:
        context.load_verify_locations(cafile=extra)
    return context


def transmit(
    url: str,
    document: Mapping[str, Any],
    config: Mapping[str, Any],
    *,
    idempotency_key: str,
) -> TransferResult:
    """POST ``document`` as JSON to ``url``; never raises for network trouble, reports it."""
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    sha = hashlib.sha256(body).hexdigest()
    timeout = float(config.get("PORTABILITY_TIMEOUT_SECONDS", 20.0))
    # One deadline for the whole send: a server that trickles its answer a byte at a time
    # would otherwise restart each step's timeout and hold the handler's page indefinitely.
    deadline = time.monotonic() + timeout

    def too_late(at: str) -> TransferResult:
        message = str(
            _l(
                "The server did not answer within %(seconds)s seconds (timed out).",
                seconds=f"{timeout:g}",
            )
        )
        return TransferResult(False, at, None, message, sha, len(body))

    allow_private = bool(config.get("PORTABILITY_ALLOW_PRIVATE_ADDRESSES", False))
    host = urlsplit(url or "").hostname or ""
    try:
        host, port, path = check_url(url)
        context = _context(config)
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            host, port, path = check_url(current)
            address = _addresses(host, port, allow_private)[0]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return too_late(host)
            connection = _PinnedHTTPSConnection(host, port, address, context, remaining)
            watchdog = threading.Timer(remaining, connection.cut)
            watchdog.daemon = True
            watchdog.start()
            try:
                connection.request(
                    "POST",
                    path,
                    body=body,
                    headers={
                        "Content-Type": "application/json; charset=utf-8",
                        "Idempotency-Key": idempotency_key,
                        "User-Agent": "dsr-portability/1",
                    },
                )
                response = connection.getresponse()
                status = response.status
                location = response.getheader("Location")
                response.read(65536)
            except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
                if connection.cut_off or isinstance(exc, TimeoutError):
                    return too_late(host)
                raise
            finally:
                watchdog.cancel()
                connection.close()
            if 200 <= status < 300:
                return TransferResult(True, host, status, None, sha, len(body))
            if status in (307, 308) and location:
                target = urljoin(current, location)
                target_parts = urlsplit(target)
                if target_parts.scheme != "https" or target_parts.hostname != host:
                    return TransferResult(
                        False,
                        host,
                        status,
                        str(_l("The server redirected to another host; not followed.")),
                        sha,
                        len(body),
                    )
                current = target
                continue
            return TransferResult(
                False,
                host,
                status,
                str(_l("The server answered %(status)s.", status=status)),
                sha,
                len(body),
            )
        return TransferResult(False, host, None, str(_l("Too many redirects.")), sha, len(body))
    except TransferError as exc:
        return TransferResult(False, host, None, str(exc), sha, len(body))
    except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
        return TransferResult(
            False, host, None, f"{exc.__class__.__name__}: {exc}"[:300], sha, len(body)
        )
