"""What every page shares: the reader's language, security headers, rate limits,
request size limits, ids in URLs, and keeping tokens out of logs.

Pages are Swedish by default and English on request; `set_language` is the one
place a view says which. Tokens travel in URLs (`/r/<token>`), so logs show
`/r/[link]` instead, and responses tell browsers never to send them on. Rate
limits count in Redis, or in each process's memory while Redis is away, so
pages keep working through a Redis restart.
"""

from __future__ import annotations

import datetime as dt
import gettext
import logging
import re
from urllib.parse import unquote

from flask import Flask, Response, current_app, g, has_request_context, redirect, request, url_for
from werkzeug.routing import IntegerConverter

from .answers import venue_line
from .dates import event_dates, format_clock
from .mail.outbox import kind_name, row_problem, state_name, undeliverable_text
from .extensions import babel, csrf, limiter
from .settings import TRANSLATIONS

LANGUAGES = ("sv", "en")

#: The one bucket per client address that every personal-link page counts against (LINK_RATE_LIMIT).
LINK_LIMIT_SCOPE = "personal-links"


def limit_link_pages(blueprint) -> None:
    """Count the blueprint's pages against the personal links' limit per client address."""
    limiter.shared_limit(lambda: current_app.config["LINK_RATE_LIMIT"], scope=LINK_LIMIT_SCOPE)(blueprint)

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

#: Pages that frame an email's HTML part or fetch live numbers, both from OSA itself (the admin, the mailbox).
FRAMING_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY + "; frame-src 'self'; connect-src 'self'"

#: An email's HTML part, shown in a sandboxed frame of an admin or mailbox page and nowhere else.
EMAIL_FRAME_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
#: The dashboard's chart, an SVG image: it styles its own lines and words, and runs nothing.
CHART_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"

#: What follows `/r/` or `/hotel/` in any case, wherever it stands (`GET http://host/R/…`, `/a/r/…`, `/r//…`).
_TOKEN_IN_PATH = re.compile(r"(/(?:r|hotel)/+)[^/\s?#&\"]+", re.IGNORECASE)
#: Anything shaped like a signed link (payload.timestamp.signature), in a path or a query alike.
_SIGNED_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{27,}")


#: The largest id a row can have (an integer column in PostgreSQL): a bigger number names no row.
MAX_ID = 2**31 - 1


class RowIdConverter(IntegerConverter):
    """`<int:…>` in a route: a number no row can have is a page that does not exist (404), not a
    question the database refuses to answer."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def as_row_id(value: str) -> int:
    """A query or form value as a row's id, for `request.args.get(name, type=as_row_id)`, which gives
    the default for anything no row can have."""
    number = int(value)
    if not 0 < number <= MAX_ID:
        raise ValueError(value)
    return number


def upload_limit() -> int:
    """The largest file the import takes, in bytes (MAX_UPLOAD_MB)."""
    return int(float(current_app.config["MAX_UPLOAD_MB"]) * 2**20)


#: The pages that take a file (the invitee import) and so may be sent more than MAX_FORM_BYTES.
UPLOAD_ENDPOINTS = frozenset({"admin.import_page"})


def redact_tokens(message: str) -> str:
    """`message` with every link token in it replaced by `[link]`, percent-escapes decoded first."""
    decoded = unquote(message) if "%" in message else message
    redacted = _SIGNED_TOKEN.sub("[link]", _TOKEN_IN_PATH.sub(r"\1[link]", decoded))
    return message if redacted == decoded else redacted


class RedactLinkTokens(logging.Filter):
    """Replace every link token in a log record with `[link]`."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Redact the finished message: a token may sit in the arguments or in the format itself.
        message = record.getMessage()
        redacted = redact_tokens(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def redact_tokens_in_logs() -> None:
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactLinkTokens) for f in logger.filters):
            logger.addFilter(RedactLinkTokens())


def never_cached(response: Response) -> Response:
    """Personal pages: never cached, by the browser or anything between."""
    response.headers["Cache-Control"] = "no-store"
    return response


def email_in_frame(html: str) -> Response:
    """An email's HTML part as a page that only OSA's own pages may frame, and that runs nothing."""
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = EMAIL_FRAME_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def set_language(language: str | None) -> str:
    """Use `language` for this request's page if OSA speaks it; return the one used."""
    g.language = language if language in LANGUAGES else None
    return current_language()


def current_language() -> str:
    if not has_request_context():
        return "sv"
    if g.get("language"):
        return g.language
    return request.accept_languages.best_match(LANGUAGES, default="sv")


def clock(hour: int, minute: int) -> str:
    """A time of day as the page's reader writes it ('09.30', '09:30'), for a form's example."""
    return format_clock(dt.time(hour, minute), current_language())


def terminal_language() -> str:
    """The `osa` command's language: Swedish where gettext finds OSA's Swedish catalogue by the
    terminal's LANGUAGE, LC_ALL, LC_MESSAGES or LANG (the first one set), as it does for Click's
    own words (`cli`); English otherwise."""
    # Not LC_CTYPE, which Babel's default_locale reads before LANG: Python sets it to C.UTF-8 on a
    # server whose Swedish locale is not installed, and it says nothing of the language anyway.
    return "sv" if gettext.find("messages", TRANSLATIONS) else "en"  # Swedish is the only catalogue


def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("X-Frame-Options", "DENY")
    if current_app.config["BASE_URL"].startswith("https://"):
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


def _allow_uploads() -> None:
    """Let the pages that take a file read up to MAX_UPLOAD_MB; everything else stops at MAX_FORM_BYTES.
    Runs before CSRFProtect, which reads the form first."""
    if request.endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = upload_limit()


def init_web(app: Flask) -> None:
    app.url_map.converters["int"] = RowIdConverter  # before any route is added
    babel.init_app(app, locale_selector=current_language, default_translation_directories=str(TRANSLATIONS))
    # OSA writes its own messages; WTForms' catalogue would be loaded from disk on every request.
    app.config.setdefault("WTF_I18N_ENABLED", False)
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_FORM_BYTES"]
    app.before_request(_allow_uploads)
    csrf.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"] or "memory://")
    # While Redis is away, count in this process's memory (Flask-Limiter logs the outage once).
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    # No X-RateLimit-* headers: people's browsers ignore them (a 429 says Retry-After, see errors.py).
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    limiter.init_app(app)
    app.after_request(_security_headers)
    # Every page knows its language (the <html lang>, the header's language switch) without each view passing it.
    app.context_processor(lambda: {"language": current_language()} if has_request_context() else {})
    app.add_template_global(event_dates)
    app.add_template_global(venue_line)
    app.add_template_global(clock)
    app.add_template_global(row_problem)
    app.add_template_global(state_name)
    app.add_template_global(kind_name)
    app.add_template_global(undeliverable_text)
    # Browsers and feed readers that ask for /favicon.ico without reading the page's <link rel=icon>.
    app.add_url_rule("/favicon.ico", "favicon", lambda: redirect(url_for("static", filename="favicon.svg"), 301))
    redact_tokens_in_logs()
