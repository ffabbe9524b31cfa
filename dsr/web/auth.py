"""Staff login state and the role checks every staff view goes through."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, abort, flash, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user, login_required, login_user

from dsr import accounts
from dsr.db import session as db_session
from dsr.models import StaffRole, StaffUser

login_manager = LoginManager()
login_manager.login_view = "staff.login"
login_manager.login_message = _l("Please log in to see that page.")
login_manager.login_message_category = "info"
# Ties the session to the client's address and browser; a stolen cookie used elsewhere is dropped.
login_manager.session_protection = "strong"

F = TypeVar("F", bound=Callable[..., Any])


@login_manager.user_loader
def _load_user(user_id: str) -> StaffUser | None:
    return accounts.load_user(db_session(), user_id)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)


def log_in(user: StaffUser) -> None:
    """Start the staff session of a user who proved who they are (password or single
    sign-on, see ``dsr.accounts.record_login``): every way in goes through here."""
    login_user(user)


def staff() -> StaffUser:
    """The logged-in staff member (only inside views protected by the decorators below)."""
    return cast(StaffUser, current_user._get_current_object())


def roles_required(*roles: StaffRole) -> Callable[[F], F]:
    """Allow only staff with one of ``roles``; others get 403, anonymous users the login."""

    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if staff().role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator


#: Any staff member may look (auditors are read-only).
staff_required = roles_required(StaffRole.admin, StaffRole.handler, StaffRole.auditor)
#: Changing a request: handlers and admins.
handler_required = roles_required(StaffRole.admin, StaffRole.handler)
#: Staff accounts, tokens and settings.
admin_required = roles_required(StaffRole.admin)


def safe_next(default: str) -> str:
    """A ``next`` target only if it stays on this site."""
    target = request.values.get("next", "")
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def redirect_to_login() -> Any:
    flash(login_manager.login_message, "info")
    return redirect(url_for("staff.login", next=request.full_path))
