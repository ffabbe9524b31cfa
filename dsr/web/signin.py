"""What e-legitimation (``dsr.web.eid``) and staff single sign-on (``dsr.web.sso``) pages share.

The browser is tied to each sign-in it starts by a random value in its session cookie. The
provider sends the browser back with a GET; since a GET changes nothing here, that page only
carries the provider's answer into a POST (sent by a small script at once, or by a button
without scripts), and the POST completes the sign-in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import render_template, session

from dsr import oidc
from dsr.web.forms import ConfirmForm

BROWSER_KEY = "oidc_browser"
#: What a provider's answer may carry (RFC 6749 4.1.2, RFC 9207); the rest is ignored.
CALLBACK_FIELDS = ("state", "code", "iss", "error")


def browser_secret(*, create: bool) -> str | None:
    """This browser's sign-in binding, made on first use when ``create``."""
    value = session.get(BROWSER_KEY)
    if not isinstance(value, str) and create:
        value = oidc.new_browser_secret()
        session[BROWSER_KEY] = value
    return value if isinstance(value, str) else None


def callback_fields(values: Mapping[str, Any]) -> dict[str, str]:
    return {
        name: str(values[name])[:2000]
        for name in CALLBACK_FIELDS
        if isinstance(values.get(name), str) and values.get(name)
    }


def continue_page(action: str, values: Mapping[str, Any]) -> Any:
    """The page the provider sends the browser back to: a form that posts its answer on."""
    return render_template(
        "oidc/continue.html", action=action, fields=callback_fields(values), form=ConfirmForm()
    )
