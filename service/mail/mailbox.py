"""The embedded default's mailbox: a built-in SMTP catcher and the page that shows what it caught.

`MailCatcher` is an aiosmtpd server that writes each message it receives as an
`.eml` file into `MAILBOX_DIR` (written whole, then renamed, so the page never
reads half a message). The `/mailbox/` pages list those messages and show each
one's text and HTML parts and attachments, with links that open. The blueprint
is registered only when `MAILBOX_DIR` is set, which only `osa demo` does: in
production the relay delivers the mail and there is no mailbox.
"""

from __future__ import annotations

import email
import email.policy
import html
import io
import os
import re
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

from aiosmtpd.controller import Controller
from flask import Blueprint, abort, current_app, render_template, request, send_file
from flask_babel import gettext as _
from markupsafe import Markup

from ..web import (
    FRAMING_CONTENT_SECURITY_POLICY,
    email_in_frame,
    never_cached,
    set_language,
)

bp = Blueprint("mailbox", __name__, url_prefix="/mailbox")

_NAME = re.compile(r"^\d{19}-[0-9a-f]{32}\.eml$")
_URL = re.compile(r"https?://[^\s<>\"]+")


class _Keep:
    def __init__(self, folder: Path):
        self.folder = folder

    async def handle_DATA(self, server, session, envelope):
        name = f"{time.time_ns():019d}-{uuid.uuid4().hex}.eml"
        partial = self.folder / f".{name}.part"
        partial.write_bytes(envelope.original_content or envelope.content)
        os.replace(partial, self.folder / name)
        return "250 Message kept in the mailbox"


class MailCatcher:
    """An SMTP server on `host:port` that keeps every message in `folder`."""

    def __init__(self, folder: Path, host: str = "127.0.0.1", port: int = 1025):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(_Keep(self.folder), hostname=host, port=port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


@dataclass
class Kept:
    name: str
    message: EmailMessage

    @property
    def received(self) -> str:
        try:
            return parsedate_to_datetime(self.message["Date"]).strftime("%Y-%m-%d %H:%M")
        except (TypeError, ValueError):
            return ""


def _folder() -> Path:
    return Path(current_app.config["MAILBOX_DIR"])


def _read(name: str) -> Kept:
    if not _NAME.match(name):
        abort(404)
    path = _folder() / name
    if not path.is_file():
        abort(404)
    return Kept(name, email.message_from_bytes(path.read_bytes(), policy=email.policy.default))


def kept_messages() -> list[Kept]:
    """Every message in the mailbox, newest first."""
    folder = _folder()
    names = sorted((p.name for p in folder.glob("*.eml") if _NAME.match(p.name)), reverse=True) if folder.is_dir() else []
    return [_read(name) for name in names]


def _attachments(message: EmailMessage) -> list[tuple[int, str, str]]:
    """(index, filename, content type) of each attachment and inline part."""
    found = []
    for index, part in enumerate(message.walk()):
        if part.get_filename():
            found.append((index, part.get_filename(), part.get_content_type()))
    return found


def _linked(text: str) -> Markup:
    """The text part with its addresses made into links that open in a new tab."""
    out, last = [], 0
    for match in _URL.finditer(text):
        out.append(html.escape(text[last:match.start()]))
        url = html.escape(match.group(0))
        out.append(f'<a href="{url}" target="_blank" rel="noreferrer">{url}</a>')
        last = match.end()
    out.append(html.escape(text[last:]))
    return Markup("".join(out))


@bp.after_request
def _frame_own_parts(response):
    response.headers.setdefault("Content-Security-Policy", FRAMING_CONTENT_SECURITY_POLICY)
    return never_cached(response)


@bp.get("/")
def inbox():
    """Every message the catcher has received, newest first."""
    language = set_language(request.args.get("lang") or "en")  # a developer's page: English unless asked
    return render_template("mailbox/inbox.html", messages=kept_messages(), language=language,
                           page_title=_("Mailbox"))


@bp.get("/<name>")
def message(name: str):
    """One message: its headers, text part, HTML part and attachments."""
    kept = _read(name)
    language = set_language(request.args.get("lang") or "en")  # a developer's page: English unless asked
    text_part = kept.message.get_body(preferencelist=("plain",))
    html_part = kept.message.get_body(preferencelist=("html",))
    return render_template(
        "mailbox/message.html", kept=kept, text=_linked(text_part.get_content()) if text_part else "",
        has_html=html_part is not None, attachments=_attachments(kept.message), language=language,
        page_title=kept.message["Subject"],
    )


@bp.get("/<name>/html")
def message_html(name: str):
    """The HTML part, for the message page's frame; links open outside the frame."""
    part = _read(name).message.get_body(preferencelist=("html",))
    if part is None:
        abort(404)
    body = part.get_content()
    return email_in_frame(re.sub(r"(<head[^>]*>)", r'\1<base target="_blank">', body, count=1, flags=re.I))


@bp.get("/<name>/part/<int:index>")
def attachment(name: str, index: int):
    """One attachment, as a download."""
    parts = list(_read(name).message.walk())
    if index >= len(parts) or not parts[index].get_filename():
        abort(404)
    part = parts[index]
    return send_file(io.BytesIO(part.get_payload(decode=True)), mimetype=part.get_content_type(), as_attachment=True,
                     download_name=part.get_filename())
