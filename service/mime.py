"""An outbox row as the bytes SMTP carries: the MIME message, written directly.

The message has the shape Flask-Mail gives one: a text part, then the HTML part
(together as multipart/alternative), then the attachments, all inside
multipart/mixed; headers folded by `email.policy.SMTP`. Flattening a
`email.message.Message` re-parses every header through the header registry,
which costs more than everything else in sending a message; here each distinct
header is folded once and kept, and the parts are encoded with the C codecs.
`tests/test_mail.py` checks that the bytes are Flask-Mail's, boundaries aside.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from email import policy
from email.utils import encode_rfc2231, formatdate
from functools import lru_cache
from typing import Any

from flask_mail import BadHeaderError, sanitize_address, sanitize_subject

CRLF = b"\r\n"
_SIMPLE_HEADER_LENGTH = policy.SMTP.max_line_length


def _header(name: str, value: str) -> bytes:
    """`Name: value` folded as `email.policy.SMTP` folds it, CRLF-terminated."""
    if value.isascii() and len(name) + 2 + len(value) <= _SIMPLE_HEADER_LENGTH and "=?" not in value:
        return f"{name}: {value}\r\n".encode("ascii")  # nothing to fold or encode
    return _folded(name, value)


@lru_cache(maxsize=4096)
def _folded(name: str, value: str) -> bytes:
    return policy.SMTP.fold_binary(name, value)


#: An address that `sanitize_address` gives back as it is: ASCII, no name, nothing to quote.
_BARE_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")


def _address(address: str) -> str:
    if _BARE_ADDRESS.fullmatch(address):
        return address
    return _named_address(address)


@lru_cache(maxsize=1024)
def _named_address(address: str) -> str:
    return sanitize_address(address, "utf-8")


@lru_cache(maxsize=256)
def _subject(subject: str) -> bytes:
    return _header("Subject", sanitize_subject(subject, "utf-8"))


def _crlf(data: bytes) -> bytes:
    """Every line ending as CRLF, as SMTP wants them (`smtplib` sends bytes as given)."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", CRLF)


def _text_part(text: str, subtype: str) -> bytes:
    # Quoted-printable keeps every line under SMTP's 998 characters; binascii's is the C codec.
    body = binascii.b2a_qp(text.encode("utf-8"), istext=True)
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "MIME-Version: 1.0\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode("ascii") + _crlf(body)


def _attachment_part(attachment: dict[str, str]) -> bytes:
    # A round's invitations all carry the same .ics: it is encoded once.
    return _encoded_attachment(tuple(sorted(attachment.items())))


@lru_cache(maxsize=64)
def _encoded_attachment(items: tuple[tuple[str, str], ...]) -> bytes:
    attachment = dict(items)
    if attachment.get("encoding") == "base64":
        data = base64.b64decode(attachment["data"])
    else:
        data = attachment["data"].encode("utf-8")
    content_id = attachment.get("content_id")
    disposition = "inline" if content_id else "attachment"
    filename = attachment["filename"]
    head = (
        _header("Content-Type", attachment["content_type"])
        + b"MIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n"
    )
    if filename.isascii() and '"' not in filename and "\\" not in filename:
        head += _header("Content-Disposition", f'{disposition}; filename="{filename}"')
    else:
        head += _header("Content-Disposition", f"{disposition}; filename*={encode_rfc2231(filename, 'utf-8')}")
    if content_id:
        head += _header("Content-ID", f"<{content_id}>")
    return head + CRLF + _crlf(base64.encodebytes(data))


def _multipart(subtype: str, parts: list[bytes]) -> tuple[bytes, bytes]:
    """The Content-Type header and the body of a multipart holding `parts`.

    The boundary cannot occur in a part: quoted-printable writes "=" as "=3D", and
    base64 has at most two "=" at its end.
    """
    boundary = f"==============={secrets.randbelow(10 ** 19):019d}=="  # the form `email.generator` uses
    body = b"".join(b"--" + boundary.encode("ascii") + CRLF + part + CRLF for part in parts)
    body += b"--" + boundary.encode("ascii") + b"--" + CRLF
    line = f'Content-Type: multipart/{subtype}; boundary="{boundary}"'
    if len(line) > _SIMPLE_HEADER_LENGTH:  # folded before the boundary, as `email.policy.SMTP` does
        line = line.replace("; ", ";\r\n ", 1)
    head = f"{line}\r\nMIME-Version: 1.0\r\n".encode("ascii")
    return head, body


def message_bytes(row: Any) -> bytes:
    """The outbox row as an RFC 5322 message with CRLF line endings, ready for `sendmail`.

    Raises `flask_mail.BadHeaderError` if a header value holds a line break.
    """
    for value in (row.subject, row.sender, row.recipient, row.reply_to, row.message_id):
        if value and ("\r" in value or "\n" in value):
            raise BadHeaderError("a header contains a line break")
    text = _text_part(row.body_text or "", "plain")
    attachments = [_attachment_part(attachment) for attachment in row.attachments]
    if not row.body_html and not attachments:
        head, body = text.split(CRLF + CRLF, 1)
        content = head + CRLF
    else:
        first = text
        if row.body_html:
            alternative_head, alternative_body = _multipart(
                "alternative", [text, _text_part(row.body_html, "html")]
            )
            first = alternative_head + CRLF + alternative_body
        content, body = _multipart("mixed", [first, *attachments])

    headers = [content]
    if row.subject:
        headers.append(_subject(row.subject))
    headers.append(_header("From", _address(row.sender)))
    headers.append(_header("To", _address(row.recipient)))
    headers.append(_header("Date", formatdate(row.created_at.timestamp(), localtime=True)))
    headers.append(_header("Message-ID", row.message_id))
    if row.reply_to:
        headers.append(_header("Reply-To", _address(row.reply_to)))
    if row.auto_submitted:
        headers.append(b"Auto-Submitted: auto-generated\r\n")
    return b"".join(headers) + CRLF + body
