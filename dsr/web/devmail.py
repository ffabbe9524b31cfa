"""``/dev/mailbox``: read the emails the development mail catcher kept (development only)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, render_template

from dsr import devmail

bp = Blueprint("devmail", __name__, url_prefix="/dev")


@bp.before_request
def development_only() -> None:
    if current_app.config["ENV"] != "development" or not current_app.config["MAIL_DEV_MAILBOX"]:
        abort(404)


@bp.get("/mailbox")
def mailbox() -> Any:
    return render_template(
        "dev/mailbox.html", kept=devmail.messages(current_app.config["DATA_DIR"])
    )
