"""Answer pages kept, as sent, per process, for as long as nothing they show changes.

Invitees open their link again and again (and mail scanners open it first), and
rendering the page costs far more than reading whether it changed. `KeptPageLane`
sits in front of the Flask app: a GET of `/r/<token>` whose page is kept is
answered from here with one query, the page's `PageStamp`, and the personal
links' rate limit; any other request, and a page not kept, goes to Flask, which
marks the answer pages it renders as fit to keep.

A page is kept under its link, its language and its stamp: the invitee's name,
role, language and link version, the event's version, and the event's
`AnswersVersion`, which every saved answer raises in its own transaction. Any
change to those makes a new key, and the stamp is read before the page is
rendered, so a kept page is never older than what it shows. The clock is the one
other input: each page is kept only until the RSVP deadline (when the form gives
way to the read-only answer) or the link's end, whichever comes first. A
revoked, removed or expired link has no stamp and always goes to Flask.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl

import limits
from flask import Flask

from ..db import utcnow
from ..links import LinkError, PageStamp, page_stamp
from ..web import LANGUAGES, LINK_LIMIT_SCOPE, limiter

log = logging.getLogger(__name__)

#: Pages kept per process (one per link and language; about 11 KB each).
SIZE = 1000
#: Where the answer view leaves `(key, until)` for a page fit to keep.
KEEP = "osa.keep_page"
#: Where the lane leaves the stamp it read, for the answer view when the page was not kept.
STAMP = "osa.page_stamp"
PREFIX = "/r/"


def page_key(token: str, language: str, stamp: PageStamp) -> tuple:
    return (token, language, stamp)


def read_stamp(environ: dict, token: str) -> PageStamp | None:
    """The page's stamp: the one the lane read for this request, else read now."""
    stamp = environ.get(STAMP)
    return stamp if stamp is not None else page_stamp(token)


def keep_page(environ: dict, key: tuple, until: dt.datetime) -> None:
    """Mark the page being answered as fit to keep under `key` until `until`."""
    environ[KEEP] = (key, until)


class KeptPages:
    """A bounded map of sent pages (headers and body), each with the instant it stops being right."""

    def __init__(self, size: int = SIZE):
        self.size = size
        self._pages: OrderedDict[tuple, tuple[list, bytes, dt.datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, now: dt.datetime) -> tuple[list, bytes] | None:
        with self._lock:
            kept = self._pages.get(key)
            if kept is None:
                return None
            if now >= kept[2]:
                del self._pages[key]
                return None
            self._pages.move_to_end(key)
            return kept[0], kept[1]

    def keep(self, key: tuple, headers: list, body: bytes, until: dt.datetime) -> None:
        with self._lock:
            self._pages[key] = (headers, body, until)
            self._pages.move_to_end(key)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)


class KeptPageLane:
    """WSGI middleware: a kept answer page without Flask's request machinery.

    What it sends is what Flask sent for the same key, headers and all, and it
    counts the request against the same per-address limit as every personal-link
    page (Flask-Limiter's storage, the shared scope `LINK_LIMIT_SCOPE`).
    """

    def __init__(self, app: Flask, wsgi_app: Callable):
        self.app = app
        self.wsgi_app = wsgi_app
        self.pages = KeptPages()
        self.link_limits = sorted(limits.parse_many(app.config["LINK_RATE_LIMIT"]))

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        path = environ.get("PATH_INFO", "")
        if method not in ("GET", "HEAD") or not path.startswith(PREFIX) or "/" in path[len(PREFIX):]:
            return self.wsgi_app(environ, start_response)
        token = path[len(PREFIX):]
        with self.app.app_context():
            kept = self._kept(environ, token)
        if kept is not None:
            headers, body = kept
            start_response("200 OK", headers)
            return [body if method == "GET" else b""]
        return self._through_flask(environ, start_response)

    def _kept(self, environ: dict, token: str) -> tuple[list, bytes] | None:
        """The kept page for this request, once it is counted against the limit; None to ask Flask."""
        try:
            stamp = page_stamp(token)
            if stamp is None:
                return None
            environ[STAMP] = stamp
            # As Flask reads it: the first `lang` of the query, else the invitee's language.
            asked = next((value for name, value in parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
                          if name == "lang"), None)
            language = asked or stamp.language
            if language not in LANGUAGES:
                return None  # Flask chooses from Accept-Language
            kept = self.pages.get(page_key(token, language, stamp), utcnow())
            if kept is None:
                return None
            address = environ.get("REMOTE_ADDR") or "127.0.0.1"
            if limiter.enabled and not all(
                limiter.limiter.hit(limit, address, LINK_LIMIT_SCOPE) for limit in self.link_limits
            ):
                return None  # Flask counts it again and answers 429
            return kept
        except LinkError:
            return None
        except Exception:  # the database or the limiter's storage: Flask meets the same failure and answers it
            log.warning("a kept page could not be sent; the request goes to Flask", exc_info=True)
            return None

    def _through_flask(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        sent: dict = {}

        def recording_start_response(status, headers, exc_info=None):
            sent["status"], sent["headers"] = status, headers
            return start_response(status, headers, exc_info)

        result = self.wsgi_app(environ, recording_start_response)
        marked = environ.get(KEEP)
        if (
            marked is None
            or environ.get("REQUEST_METHOD") != "GET"
            or sent.get("status") != "200 OK"
            or any(name.lower() == "set-cookie" for name, _value in sent.get("headers", ()))
        ):
            return result
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        key, until = marked
        self.pages.keep(key, list(sent["headers"]), body, until)
        return [body]
