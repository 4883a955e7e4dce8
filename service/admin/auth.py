"""Signing in and out, and the admin's language.

Sign-in is limited per client address and, for wrong passwords, per user name
from any address; an unknown name costs the same password hashing as a known one,
so the time of an answer does not tell which names exist. Signing out raises the
user's session version, which ends every session they had, copied cookies too.
"""

from __future__ import annotations

import functools
import re

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from ..db import utcnow, write_transaction
from ..extensions import db, limiter
from ..forms import at_most
from ..models import AdminUser
from ..text import PlainText, normalized
from ..web import LANGUAGES, set_language
from . import bp

#: A path inside the admin, in printable ASCII (a percent-encoded query is fine), and never `//` or `\`.
_ADMIN_PATH = re.compile(r"/admin(?:[/?][!-~]*)?")


class LoginForm(FlaskForm):
    username = StringField(_l("User name"), filters=[normalized],
                           validators=[PlainText(), DataRequired(_l("Give your user name.")), at_most(64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Give your password.")), at_most(200)])


def _safe_next(target: str | None) -> str:
    """Only a path inside the admin: never another site, and nothing that cannot stand in a header."""
    if target and _ADMIN_PATH.fullmatch(target) and "//" not in target and "\\" not in target:
        return target
    return url_for("admin.dashboard")


@functools.cache
def _unknown_user_hash() -> str:
    """A hash to check an unknown user name's password against, as much work as a real one."""
    return generate_password_hash("no such user", method="scrypt")


def _account() -> str:
    """The user name a sign-in tries, as the per-account limit counts it."""
    return "account:" + (normalized(request.form.get("username", "")) or "").strip().casefold()


def _wrong_password(response) -> bool:
    return response.status_code == 401


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
@limiter.limit(lambda: current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"], methods=["POST"], key_func=_account,
               deduct_when=_wrong_password)
def login():
    """The sign-in page."""
    set_language(request.args.get("lang") or "sv")  # the secretariat's admin is Swedish unless asked
    if current_user.is_authenticated:
        return redirect(url_for("admin.dashboard"))
    form = LoginForm()
    failed = False
    if form.validate_on_submit():
        user = db.session.scalar(select(AdminUser).where(AdminUser.username == form.username.data.strip()))
        if user is None:
            check_password_hash(_unknown_user_hash(), form.password.data)
        elif user.check_password(form.password.data):
            with write_transaction():
                user.last_login_at = utcnow()
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        failed = True
    status = 401 if failed else (400 if form.errors else 200)
    return render_template("admin/login.html", form=form, failed=failed), status


@bp.post("/logout")
def logout():
    """Sign out: this session ends, and so does every other of this user's, copied cookies too."""
    with write_transaction():
        current_user.session_version += 1
    logout_user()
    flash(_("You are signed out."))
    return redirect(url_for("admin.login"))


@bp.post("/language/<language>")
def language(language: str):
    """Show the admin in Swedish or English from now on."""
    if language in LANGUAGES:
        with write_transaction():
            current_user.language = language
    return redirect(_safe_next(request.form.get("next")))
