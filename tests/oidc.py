"""A real OpenID provider for the tests: panva's oidc-provider (Node.js) on loopback.

``tests/oidc_provider/start.mjs`` configures it: test people carrying personnummer claims,
staff addresses, PKCE required, and the faults the failure tests need. ``make test``
installs it from the npm registry (``npm ci`` in ``tests/oidc_provider``).
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

HERE = Path(__file__).parent / "oidc_provider"
EID_CLIENT = ("dsr-eid", "eid-client-secret-for-tests")
STAFF_CLIENT = ("dsr-staff", "staff-client-secret-for-tests")


def node_path() -> str:
    path = shutil.which("node")
    if path is None:
        raise RuntimeError(
            "Node.js is not installed; `make test` installs it (apt-get install nodejs)"
        )
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError(
            "oidc-provider is not installed; `make test` runs npm ci in tests/oidc_provider"
        )
    return path


@dataclass
class Provider:
    """One running provider process. ``stop()`` ends it (the fixtures do)."""

    base: str
    options: list[str]
    port: int = 0
    issuer: str = ""
    process: subprocess.Popen[str] | None = None
    log: list[str] = field(default_factory=list)

    def start(self) -> Provider:
        clients = [
            {
                "client_id": EID_CLIENT[0],
                "client_secret": EID_CLIENT[1],
                "redirect_uris": [f"{self.base}/eid/callback"],
            },
            {
                "client_id": STAFF_CLIENT[0],
                "client_secret": STAFF_CLIENT[1],
                "redirect_uris": [f"{self.base}/staff/sso/callback"],
            },
        ]
        self.process = subprocess.Popen(
            [
                node_path(),
                str(HERE / "start.mjs"),
                "--port",
                str(self.port),
                "--clients",
                json.dumps(clients),
                *self.options,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=5)
            self.stop()
            raise RuntimeError(
                f"the OpenID provider did not start (exit {self.process.returncode})"
            )
        ready = json.loads(line)
        self.port, self.issuer = int(ready["port"]), str(ready["issuer"])
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None

    def restart(self, *options: str) -> Provider:
        """The same provider (same address, so the same issuer) started again."""
        self.stop()
        self.options = [*self.options, *options]
        return self.start()

    def eid_settings(self, **extra: Any) -> dict[str, Any]:
        return {
            "EID_ISSUER": self.issuer,
            "EID_CLIENT_ID": EID_CLIENT[0],
            "EID_CLIENT_SECRET": EID_CLIENT[1],
            **extra,
        }

    def staff_settings(self, **extra: Any) -> dict[str, Any]:
        return {
            "STAFF_SSO_ISSUER": self.issuer,
            "STAFF_SSO_CLIENT_ID": STAFF_CLIENT[0],
            "STAFF_SSO_CLIENT_SECRET": STAFF_CLIENT[1],
            "STAFF_SSO_NAME": "Testföretagets konto",
            **extra,
        }

    # --- driving the sign-in over HTTP, as a browser would --------------------------------

    def sign_in(
        self, authorize_url: str, login: str | None, *, browser: requests.Session | None = None
    ) -> str:
        """Follow ``authorize_url`` through the provider's sign-in page, sign in as ``login``
        (None: press Cancel), and return the URL the provider sends the browser back to."""
        browser = browser or requests.Session()
        response = browser.get(authorize_url, allow_redirects=False, timeout=10)
        while response.is_redirect:
            target = urljoin(response.url, response.headers["Location"])
            if not target.startswith(self.issuer):
                return target
            response = browser.get(target, allow_redirects=False, timeout=10)
        assert response.status_code == 200, response.text
        found = re.findall(r'<form method="post" action="([^"]+/(login|abort))"', response.text)
        actions = {kind: unescape(action) for action, kind in found}
        if login is None:
            response = browser.post(
                urljoin(self.issuer, actions["abort"]), allow_redirects=False, timeout=10
            )
        else:
            response = browser.post(
                urljoin(self.issuer, actions["login"]),
                data={"login": login},
                allow_redirects=False,
                timeout=10,
            )
        while response.is_redirect:
            target = urljoin(response.url, response.headers["Location"])
            if not target.startswith(self.issuer):
                return target
            response = browser.get(target, allow_redirects=False, timeout=10)
        raise AssertionError(
            f"the provider did not send the browser back: {response.status_code} {response.text[:300]}"
        )


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def come_back(client: Any, callback_url: str) -> Any:
    """What the browser does back here: open the callback page, then post its form on."""
    page = client.get(path_of(callback_url))
    assert page.status_code == 200, page.get_data(as_text=True)
    html = page.get_data(as_text=True)
    fields = {name: unescape(value) for name, value in HIDDEN.findall(html)}
    action = re.search(r'<form method="post" action="([^"]+)" data-continue>', html)
    assert action, html
    return client.post(action.group(1), data=fields)
