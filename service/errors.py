"""Error pages: a clear sentence in the reader's language, never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def _page(title: str, message: str, status: int):
    return render_template("error.html", title=title, message=message, event=None, page_title=title), status


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
        return _page(_("Too many requests"), _("Please wait a minute and try again."), 429)

    @app.errorhandler(404)
    def not_found(error):
        return _page(_("Page not found"), _("Check the address, or open the link from your email again."), 404)

    @app.errorhandler(HTTPException)
    def http_error(error):
        return _page(str(error.code), error.description or "", error.code or 500)

    @app.errorhandler(Exception)
    def unexpected(error):
        log.exception("unhandled error")
        return _page(
            _("Something went wrong"),
            _("Nothing was saved. Please try again in a moment, or contact the secretariat."),
            500,
        )
