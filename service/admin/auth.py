"""Signing in and out, and the admin's language."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from ..db import utcnow, write_transaction
from ..extensions import db, limiter
from ..models import AdminUser
from ..web import LANGUAGES, current_language, set_language
from . import bp


class LoginForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


def _safe_next(target: str | None) -> str:
    """Only a path inside the admin: never another site."""
    if target and target.startswith("/admin") and not urlsplit(target).netloc and "\\" not in target:
        return target
    return url_for("admin.dashboard")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login():
    """The sign-in page."""
    set_language(request.args.get("lang") or "sv")  # the secretariat's admin is Swedish unless asked
    if current_user.is_authenticated:
        return redirect(url_for("admin.dashboard"))
    form = LoginForm()
    failed = False
    if form.validate_on_submit():
        user = db.session.scalar(select(AdminUser).where(AdminUser.username == form.username.data.strip()))
        if user is not None and user.check_password(form.password.data):
            with write_transaction():
                user.last_login_at = utcnow()
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        failed = True
    status = 401 if failed else (400 if form.errors else 200)
    return render_template("admin/login.html", form=form, failed=failed, language=current_language()), status


@bp.post("/logout")
def logout():
    """Sign out."""
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
