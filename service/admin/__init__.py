"""The secretariat's admin, under /admin: sign-in, the live dashboard, the event and its
change log, invitees, import and sending, email previews, the mail log, exports and the hotel's link.

Every view but the sign-in page needs a signed-in admin (`_require_login`), and
every form carries a CSRF token (Flask-WTF's `CSRFProtect` guards every POST).
The admin runs the newest event; its pages are Swedish unless the admin chose English.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Flask, redirect, request, url_for
from flask_login import LoginManager, current_user

from ..events import get_event
from ..extensions import db
from ..models import AdminUser
from ..text import whole_number
from ..web import FRAMING_CONTENT_SECURITY_POLICY, never_cached, set_language

bp = Blueprint("admin", __name__, url_prefix="/admin")
login_manager = LoginManager()

#: Endpoints anyone may open: the sign-in page.
PUBLIC_ENDPOINTS = {"admin.login"}


@login_manager.user_loader
def _load_user(session_id: str) -> AdminUser | None:
    user_id = whole_number(session_id.partition(".")[0], most_digits=11)
    user = db.session.get(AdminUser, user_id) if user_id is not None else None
    if user is None or not hmac.compare_digest(user.get_id(), session_id):
        return None  # removed, or the password has changed since this session signed in
    return user


@bp.before_request
def _require_login():
    """Send anyone not signed in to the sign-in page, and back here after."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return redirect(url_for("admin.login", next=request.full_path if request.method == "GET" else None))
    set_language(current_user.language)
    return None


@bp.after_request
def _private(response):
    response.headers.setdefault("Content-Security-Policy", FRAMING_CONTENT_SECURITY_POLICY)
    # Over HTTPS Flask-WTF refuses a form without a same-origin Referer (its defence against a
    # token planted over plain HTTP). Admin URLs hold no secret, so the admin's pages may name
    # themselves to OSA itself; pages with a token in their URL keep `no-referrer` (`web.py`).
    response.headers["Referrer-Policy"] = "same-origin"
    return never_cached(response)


@bp.app_template_global()
def admin_event():
    """The event the admin runs (the newest), or None before one is loaded."""
    return get_event()


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    secure = app.config["BASE_URL"].startswith("https://")
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
    )
    from . import auth, dashboard, event, exports, imports, invitees, mail, privacy  # noqa: F401  (they add their views to bp)

    app.register_blueprint(bp)
