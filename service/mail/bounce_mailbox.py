"""Reading the bounce mailbox over IMAP: each new message is recorded by `bounces`, then moved to
BOUNCE_IMAP_DONE_FOLDER, never deleted, so a person can check what OSA made of it.

Beat runs `poll_bounce_mailbox` every BOUNCE_POLL_SECONDS when BOUNCE_IMAP_HOST is
set; `osa bounces poll` runs it once. Each message is committed on its own before
it is moved: a poll cut off halfway leaves the rest for the next, and a message
whose move was lost is found known and only moved.
"""

from __future__ import annotations

import logging
import ssl
from collections import Counter

from flask import current_app
from flask_babel import gettext
from imapclient import IMAPClient
from sqlalchemy.exc import IntegrityError

from ..db import write_transaction
from ..extensions import db
from .bounces import record_report
from .oauth import NoToken, access_token

log = logging.getLogger(__name__)

#: Messages fetched per IMAP command.
FETCH_BATCH = 25


class BounceMailboxError(Exception):
    """The mailbox cannot be read; the message says which setting to look at."""


def _connect() -> IMAPClient:
    config = current_app.config
    tls = config["BOUNCE_IMAP_TLS"]
    context = ssl.create_default_context(cafile=config["BOUNCE_IMAP_CA_FILE"] or None)
    client = IMAPClient(config["BOUNCE_IMAP_HOST"], port=int(config["BOUNCE_IMAP_PORT"]), ssl=tls == "ssl",
                        ssl_context=context, timeout=float(config["SMTP_TIMEOUT"]))
    try:
        if tls == "starttls":
            client.starttls(context)
        if config["BOUNCE_IMAP_TOKEN_COMMAND"]:
            try:
                token = access_token("BOUNCE_IMAP_TOKEN_COMMAND")
            except NoToken as error:
                raise BounceMailboxError(str(error)) from None
            client.oauth2_login(config["BOUNCE_IMAP_USER"], token)
        else:
            client.login(config["BOUNCE_IMAP_USER"], config["BOUNCE_IMAP_PASSWORD"])
    except BaseException:
        client.shutdown()
        raise
    return client


def poll_bounce_mailbox() -> Counter:
    """Read every message in BOUNCE_IMAP_FOLDER; return how many were hard, soft, auto_reply, other,
    known (read before) and how many invitees became undeliverable. `BounceMailboxError` when the
    mailbox cannot be signed in to or read (what was read before that stays read)."""
    config = current_app.config
    host = config["BOUNCE_IMAP_HOST"]
    counts: Counter = Counter()
    try:
        client = _connect()
    except (OSError, IMAPClient.Error) as error:
        raise BounceMailboxError(gettext("cannot sign in to the bounce mailbox at %(host)s: %(error)s",
                                         host=host, error=type(error).__name__)) from None
    try:
        with client:
            done_folder = config["BOUNCE_IMAP_DONE_FOLDER"]
            if not client.folder_exists(done_folder):
                client.create_folder(done_folder)
            client.select_folder(config["BOUNCE_IMAP_FOLDER"])
            uids = client.search("ALL")
            for start in range(0, len(uids), FETCH_BATCH):
                for uid, data in client.fetch(uids[start:start + FETCH_BATCH], ["BODY.PEEK[]"]).items():
                    counts.update(_record(data[b"BODY[]"]))
                    _move(client, uid, done_folder)
    except (OSError, IMAPClient.Error) as error:
        raise BounceMailboxError(gettext("the bounce mailbox at %(host)s could not be read: %(error)s",
                                         host=host, error=type(error).__name__)) from None
    log.info("bounce mailbox read: %s", dict(counts))
    return counts


def _record(raw: bytes) -> Counter:
    try:
        with write_transaction():
            recorded = record_report(raw)
    except IntegrityError:  # another poll recorded it a moment ago
        db.session.rollback()
        return Counter(known=1)
    if recorded.known:
        return Counter(known=1)
    return Counter({recorded.finding.kind.value: 1, "undeliverable": len(recorded.undeliverable)})


def _move(client: IMAPClient, uid: int, folder: str) -> None:
    if client.has_capability("MOVE"):
        client.move([uid], folder)
    else:  # copied, then marked and expunged: the message lives on in the folder
        client.copy([uid], folder)
        client.delete_messages([uid])
        if client.has_capability("UIDPLUS"):
            client.uid_expunge([uid])
        else:
            client.expunge()
