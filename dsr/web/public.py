"""Public pages for data subjects."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, session, url_for

from dsr.config import LANGUAGES
from dsr.web.forms import ConfirmForm

bp = Blueprint("public", __name__)


@bp.get("/")
def index() -> Any:
    return render_template("public/index.html")


@bp.post("/language")
def set_language() -> Any:
    """Remember the visitor's language (a POST, because it changes what they are served)."""
    form = ConfirmForm()
    lang = request.form.get("lang")
    if form.validate_on_submit() and lang in LANGUAGES:
        session["lang"] = lang
    target = request.form.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("public.index")
    return redirect(target)
