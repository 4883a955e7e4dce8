"""Signed personal links: the only module that uses itsdangerous.

A token carries the invitee's id and their link version, signed with a salt
per purpose (an RSVP link cannot be used as a hotel link). The first of the
configured SECRET_KEYS signs and every one of them verifies, so keys can be
rotated. Raising an invitee's `link_version` revokes every link issued before.
Links work until the event has ended (the end of its last day, local time).

The forms on an invitee's pages carry `form_token`, a signature of the link's
purpose, invitee and version, in place of a session's CSRF token. `bounce_tag`
signs an outbox row's id for the return address of its email (VERP).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from zoneinfo import ZoneInfo

from flask import current_app
from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer
from sqlalchemy.orm import joinedload

from .db import utcnow
from .extensions import db
from .models import Event, EventDay, Invitee
from .text import whole_number

#: One salt per purpose: a token made for one purpose never verifies for another.
SALTS = {
    "rsvp": "osa.link.rsvp",
    "optout": "osa.link.reminder-opt-out",
    "hotel": "osa.link.hotel-numbers",
}
FORM_SALT = "osa.form.link"


class LinkError(Exception):
    """A link that cannot be used. `kind` is "invalid", "expired", "revoked", "removed" or "erased"."""

    def __init__(self, kind: str, invitee: Invitee | None = None):
        super().__init__(kind)
        self.kind = kind
        self.invitee = invitee


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key of the list; OSA's settings put the newest first.
    keys = list(reversed(current_app.config["SECRET_KEYS"]))
    return URLSafeTimedSerializer(keys, salt=SALTS[purpose])


def make_token(invitee: Invitee, purpose: str = "rsvp") -> str:
    return _serializer(purpose).dumps([invitee.id, invitee.link_version])


def _absolute(endpoint: str, token: str) -> str:
    # Built from the URL map, so it works outside requests too (workers, the CLI).
    path = current_app.url_map.bind("").build(endpoint, {"token": token})
    return current_app.config["BASE_URL"].rstrip("/") + path


def rsvp_url(invitee: Invitee) -> str:
    """The invitee's personal answer link, absolute, on the configured BASE_URL."""
    return _absolute("rsvp.answer", make_token(invitee))


def opt_out_url(invitee: Invitee) -> str:
    """The link that stops reminders (and nothing else) for the invitee."""
    return _absolute("rsvp.opt_out", make_token(invitee, "optout"))


def links_expire_at(event: Event) -> dt.datetime:
    """Midnight after the event's last day, in the event's timezone."""
    last_day = max(day.date for day in event.days)
    midnight = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(0), tzinfo=ZoneInfo(event.timezone))
    return midnight.astimezone(dt.timezone.utc)


def resolve_token(token: str, purpose: str = "rsvp", after_the_event: bool = False) -> Invitee:
    """The invitee a token belongs to, or `LinkError` saying why the link cannot be used.
    `after_the_event`: the link works on after the event, while OSA holds their data (their data page)."""
    invitee_id, version = _load(token, purpose)
    invitee = db.session.get(Invitee, invitee_id, options=[
        joinedload(Invitee.event).selectinload(Event.days).selectinload(EventDay.items), joinedload(Invitee.role)])
    if invitee is not None and invitee.erased_at is not None:
        raise LinkError("erased", invitee)
    if invitee is None or (invitee.removed_at is not None and not after_the_event):
        raise LinkError("removed", invitee)
    if not hmac.compare_digest(str(version).encode(), str(invitee.link_version).encode()):
        raise LinkError("revoked", invitee)
    if utcnow() >= links_expire_at(invitee.event) and not after_the_event:
        raise LinkError("expired", invitee)
    return invitee


def _load(token: str, purpose: str) -> tuple[int, int]:
    """The (id, version) a token carries, or `LinkError("invalid")`."""
    try:
        payload = _serializer(purpose).loads(token)
    except BadSignature:
        raise LinkError("invalid") from None
    if (
        not isinstance(payload, list)
        or len(payload) != 2
        or not all(isinstance(part, int) and not isinstance(part, bool) for part in payload)
    ):
        raise LinkError("invalid")
    return payload[0], payload[1]


def _form_signer() -> Signer:
    return Signer(list(reversed(current_app.config["SECRET_KEYS"])), salt=FORM_SALT)


def form_token(purpose: str, invitee_id: int, link_version: int) -> str:
    """The token an invitee's forms carry: it holds for that link (purpose and version) only."""
    return _form_signer().get_signature(f"{purpose}.{invitee_id}.{link_version}").decode()


def is_form_token(purpose: str, invitee_id: int, link_version: int, value: str | None) -> bool:
    """Whether `value` is `form_token` for the link under any of the keys (compared in constant time)."""
    if not value or not value.isascii():
        return False
    return _form_signer().verify_signature(f"{purpose}.{invitee_id}.{link_version}".encode(), value.encode())


def _bounce_signature(key: str, outbox_id: int) -> str:
    # Hex and short: mail servers may fold the case of an address's local part, which has 64 characters.
    return hmac.new(key.encode(), f"osa.bounce.{outbox_id}".encode(), hashlib.sha256).hexdigest()[:16]


def bounce_tag(outbox_id: int) -> str:
    """The tag a return address carries for one email ("1234-<signature>")."""
    return f"{outbox_id}-{_bounce_signature(current_app.config['SECRET_KEYS'][0], outbox_id)}"


def outbox_id_from_bounce_tag(tag: str) -> int | None:
    """The outbox row a tag names, if any of the keys signed it; None otherwise."""
    digits, _, signature = tag.lower().partition("-")
    number = whole_number(digits)
    if number is None:
        return None
    return number if any(hmac.compare_digest(_bounce_signature(key, number), signature)
                         for key in current_app.config["SECRET_KEYS"]) else None


def hotel_url(event: Event) -> str:
    """The hotel's read-only link to the event's numbers, until it is revoked or the event ends."""
    token = _serializer("hotel").dumps([event.id, event.hotel_link_version])
    return _absolute("hotel.numbers", token)


def resolve_hotel_token(token: str) -> Event:
    """The event a hotel link shows, or `LinkError` saying why the link cannot be used."""
    event_id, version = _load(token, "hotel")
    event = db.session.get(Event, event_id)
    if event is None:
        raise LinkError("removed")
    if not hmac.compare_digest(str(version).encode(), str(event.hotel_link_version).encode()):
        raise LinkError("revoked")
    if utcnow() >= links_expire_at(event):
        raise LinkError("expired")
    return event


def revoke_hotel_links(event: Event) -> None:
    """Stop every hotel link given out so far; `hotel_url` then makes the only one that works."""
    event.hotel_link_version += 1


def issue_new_link(invitee: Invitee) -> None:
    """Revoke the invitee's links: the next link made for them is the only one that works."""
    invitee.link_version += 1
