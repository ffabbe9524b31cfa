"""dsr: keep the data subject rights a privacy policy promises, on time and with proof."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect

from dsr import config as config_module
from dsr import i18n, logmask
from dsr.db import Database

csrf = CSRFProtect()


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app. Connects to nothing and starts nothing: that is for the CLI."""
    settings = config_module.load(overrides=overrides)
    # Templates and static files are package data beside this module, found the same way
    # from a checkout and from an installed wheel.
    app = Flask("dsr", template_folder="templates", static_folder="static")
    app.config.update(settings)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="dsr_session",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings["SESSION_COOKIE_SECURE"],
        PERMANENT_SESSION_LIFETIME=8 * 3600,
        WTF_CSRF_TIME_LIMIT=8 * 3600,
        MAX_CONTENT_LENGTH=1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    logmask.install()
    if settings["PROXY_TRUSTED_HOPS"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings["PROXY_TRUSTED_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    Database().init_app(app)
    csrf.init_app(app)
    i18n.init_app(app)

    from dsr.web import (
        admin,
        answers,
        api,
        auth,
        casework,
        context,
        dashboard,
        devmail,
        eid,
        found,
        health,
        outbox,
        plan,
        public,
        queue,
        sso,
        staff,
        staff_intake,
        status,
    )

    auth.init_app(app)
    context.init_app(app)
    for module in (
        public,
        status,
        eid,
        staff,
        sso,
        staff_intake,
        queue,
        casework,
        found,
        plan,
        answers,
        dashboard,
        admin,
        outbox,
        health,
        devmail,
    ):
        app.register_blueprint(module.bp)
    # Trusted systems authenticate with a bearer token, which a browser never sends on its
    # own: there is no cookie to ride on, so no cross-site request to forge.
    csrf.exempt(api.bp)
    app.register_blueprint(api.bp)

    from dsr import exports, rights

    rights.init_app(app)
    exports.init_app(app)

    from dsr.cli import register

    register(app)
    _register_errors(app)
    app.after_request(_security_headers)
    return app


def _security_headers(response: Response) -> Response:
    from dsr.oidc import form_action_origins

    headers = response.headers
    # A form that starts a sign-in is answered with a redirect to the identity provider,
    # and browsers hold that redirect to the form-action list too.
    form_action = " ".join(["'self'", *form_action_origins()])
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'",
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    # Status and verification links carry secrets in the URL; never leak them onward.
    headers.setdefault("Referrer-Policy", "no-referrer")
    if request.blueprint != "static" and "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"
    return response


def _register_errors(app: Flask) -> None:
    def page(status: int, template: str = "errors/error.html", **context: Any) -> Any:
        if request.path.startswith("/api/"):
            # API clients read JSON, also for errors raised before a view runs.
            from werkzeug.http import HTTP_STATUS_CODES

            return {"errors": {"request": HTTP_STATUS_CODES.get(status, "Error")}}, status
        return render_template(template, status=status, **context), status

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> Any:
        return page(400, reason="csrf")

    for status in (400, 403, 404, 405, 413, 429, 500):
        app.register_error_handler(status, lambda e, status=status: page(status))
