"""Error pages: a clear sentence in the reader's language, never a stack trace.

A database that does not answer gets a 503 that asks the reader to try again in a
minute. An unexpected error is logged with its type, where it happened in the code, the
request's endpoint and the names of the fields it sent: never the error's message
(a database's message may quote a value) nor the values, so the log holds no
personal data.
"""

from __future__ import annotations

import logging
import math
import time

from flask import Flask, current_app, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from .extensions import limiter
from .ops import log_unexpected
from .web import UPLOAD_ENDPOINTS, set_language

log = logging.getLogger(__name__)

#: Seconds after which a page is worth asking for again while the database does not answer (a restart
#: or a failover takes about that).
DATABASE_RETRY_AFTER = 30


def _page(title: str, message: str, status: int):
    return render_template("error.html", title=title, message=message, event=None, page_title=title), status


def _field_names() -> str:
    """The names of the form fields the failed request sent, for the log (never their values)."""
    try:
        return ", ".join(sorted(request.form)) or "none"
    except Exception:  # the body itself may be what failed
        return "unreadable"


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return _page(
            _("Please try again"),
            _("The page was open for too long or came from somewhere else. Go back, reload the page and send it again."),
            400,
        )

    @app.errorhandler(429)
    def too_many_requests(error):
        page, status = _page(_("Too many requests"), _("Please wait a minute and try again."), 429)
        breached = limiter.current_limit
        wait = math.ceil(breached.window[0] - time.time()) if breached is not None else 60
        return page, status, {"Retry-After": str(max(1, wait))}

    @app.errorhandler(413)
    def too_large(error):
        if request.endpoint in UPLOAD_ENDPOINTS:
            if current_user.is_authenticated:  # refused before the admin's own checks set their language
                set_language(current_user.language)
            return _page(_("Too much to send"), _(
                "The file is larger than %(limit)s MB, the most the import takes, so it was not read and nothing "
                "was imported. Split it into smaller files and import them one after the other.",
                limit=app.config["MAX_UPLOAD_MB"]), 413)
        return _page(
            _("Too much to send"),
            _("What you sent is larger than this page takes, and nothing was saved. Go back and send less: "
              "a shorter text, or a smaller file."),
            413,
        )

    @app.errorhandler(404)
    def not_found(error):
        return _page(_("Page not found"), _("Check the address, or open the link from your email again."), 404)

    @app.errorhandler(HTTPException)
    def http_error(error):
        # In the reader's words: Werkzeug's own descriptions are English and speak of servers and resources.
        if error.code == 405:
            return _page(_("This address does not work that way"), _(
                "Nothing was changed. Open the link from your email again, or go back to the page you came from."), 405)
        if error.code == 409:
            return _page(_("This has changed in the meantime"), _(
                "Someone changed it before your request arrived, so nothing more was done. Go back and reload the "
                "page to see how it stands now."), 409)
        return _page(_("This did not work"), _("Nothing was changed. Go back, reload the page and try again."),
                     error.code or 500)

    @app.errorhandler(OperationalError)
    def database_away(error):
        # The database does not answer (restarting, failing over, or too busy): nothing can be read or
        # saved, and nothing is wrong with the request. Logged without the error's text (it may quote values).
        log.warning("the database did not answer %s %s (%s)", request.method, request.endpoint,
                    type(error.orig).__name__)
        # Flask-Login's template context would try again to read the signed-in admin: the page is shown as to anyone.
        current_app.login_manager._update_request_context_with_user()
        page, status = _page(_("Please try again in a minute"), _(
            "The registration service cannot reach its records just now, so nothing was read or saved. "
            "Try again in a minute; if it goes on, contact the secretariat."), 503)
        return page, status, {"Retry-After": str(DATABASE_RETRY_AFTER)}

    @app.errorhandler(Exception)
    def unexpected(error):
        log_unexpected(log, f"{request.method} {request.endpoint} (fields sent: {_field_names()})", error)
        return _page(
            _("Something went wrong"),
            _("Nothing was saved. Please try again in a moment, or contact the secretariat."),
            500,
        )
