"""OSA's data model: the event as defined in its file, the invitees, their answers
with a full history, and the outbox of emails.

Instants are `UTCDateTime` (aware UTC); calendar dates are plain dates in the
event's timezone. Every option an invitee can pick (meal, transport, hotel night,
diet, role) has a `key`: the id it has in the event file, stable across reloads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from email.utils import parseaddr
from enum import StrEnum
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship, validates
from werkzeug.security import check_password_hash, generate_password_hash

from .db import CHARACTERWISE_TEXT, UTCDateTime, utcnow
from .extensions import db
from .text import sort_key

# Lengths big enough for real names and the longest legal email address.
NAME = 200
EMAIL = 320
KEY = 64


class OutboxState(StrEnum):
    """Where an email is: queued → sending → sent, or failed."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class SendProblem(StrEnum):
    """Why OSA itself did not send an email, or stopped trying (`Outbox.problem`); the relay's own
    replies are kept as it wrote them, in `Outbox.last_error`."""

    REMOVED = "removed"  # the invitee was removed before their invitation or reminder went out
    UNDELIVERABLE = "undeliverable"  # their address was found dead before it went out
    LINK_REPLACED = "link_replaced"  # a new link replaced the one the invitation was for
    ANSWERED = "answered"  # they answered between the reminder's writing and its turn
    OPTED_OUT = "opted_out"  # they asked for no reminders between the reminder's writing and its turn
    HEADER_LINE_BREAK = "header_line_break"  # a header would hold a line break
    ADDRESS_NOT_ASCII = "address_not_ascii"  # letters outside ASCII before the @ (no SMTPUTF8)
    NOT_BUILT = "not_built"  # OSA failed while writing this email (a fault of its own, in its log)
    GAVE_UP = "gave_up"  # the relay failed every attempt
    NO_RELAY = "no_relay"  # the relay could not be reached (refused, lost or timed out): tried again later
    RELAY_REFUSED_OSA = "relay_refused_osa"  # no sign-in (a refused one, no token) or sender refused: tried again later
    RELAY_QUOTA = "relay_quota"  # the sending mailbox's quota is used up for now: tried again later


class JobState(StrEnum):
    """How a scheduled job's due time ended: done, or missed when the workers were down too long."""

    DONE = "done"
    MISSED = "missed"


class Actor(StrEnum):
    """Who changed an answer: the invitee, the secretariat for them, or OSA moving a waiting list up."""

    INVITEE = "invitee"
    ADMIN = "admin"
    SYSTEM = "system"


class Event(db.Model):
    __tablename__ = "event"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The event file's `id`: loading a file with the same id updates this event.
    slug: Mapped[str] = mapped_column(String(KEY), unique=True)
    name: Mapped[str] = mapped_column(String(NAME))
    name_en: Mapped[str | None] = mapped_column(String(NAME))
    organiser: Mapped[str] = mapped_column(String(NAME))
    description: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str | None] = mapped_column(Text)
    venue: Mapped[str] = mapped_column(String(NAME))
    address: Mapped[str] = mapped_column(String(NAME))
    address_en: Mapped[str | None] = mapped_column(String(NAME))
    #: IANA name, e.g. Europe/Stockholm: every local time is shown in it.
    timezone: Mapped[str] = mapped_column(String(64))
    #: Language of invitees who have none of their own ("sv" or "en").
    default_language: Mapped[str] = mapped_column(String(8))
    #: After this instant the answer page is read-only.
    rsvp_deadline: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: When the hotel gets the final numbers; later changes go out as change notices.
    final_numbers_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    sender_name: Mapped[str] = mapped_column(String(NAME))
    sender_email: Mapped[str] = mapped_column(String(EMAIL))
    reply_to: Mapped[str] = mapped_column(String(EMAIL))
    secretariat_name: Mapped[str] = mapped_column(String(NAME))
    secretariat_email: Mapped[str] = mapped_column(String(EMAIL))
    secretariat_phone: Mapped[str] = mapped_column(String(64))
    hotel_name: Mapped[str] = mapped_column(String(NAME))
    hotel_email: Mapped[str] = mapped_column(String(EMAIL))
    hotel_phone: Mapped[str] = mapped_column(String(64))
    hotel_address: Mapped[str] = mapped_column(String(NAME))
    hotel_address_en: Mapped[str | None] = mapped_column(String(NAME))
    #: In the hotel's read-only link; raising it revokes every hotel link given out before.
    hotel_link_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    #: The hotel sees names beside allergies (for rooming lists); otherwise only the allergies.
    hotel_names: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Days after the last day until sensitive details, then all personal data, are removed;
    #: None: the settings' RETENTION_SENSITIVE_DAYS and RETENTION_PERSONAL_DAYS.
    retention_sensitive_days: Mapped[int | None] = mapped_column(Integer)
    retention_personal_days: Mapped[int | None] = mapped_column(Integer)
    #: The accessibility statement's text where the organiser has written their own (else OSA's default).
    accessibility_statement: Mapped[str | None] = mapped_column(Text)
    accessibility_statement_en: Mapped[str | None] = mapped_column(Text)
    #: Why the last removal could not run (its archive could not be written); "" when nothing is wrong.
    retention_problem: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    days: Mapped[list[EventDay]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="EventDay.date"
    )
    contacts: Mapped[list[Contact]] = relationship(
        cascade="all, delete-orphan", order_by="Contact.position"
    )
    roles: Mapped[list[Role]] = relationship(cascade="all, delete-orphan", order_by="Role.position")
    meals: Mapped[list[Meal]] = relationship(
        cascade="all, delete-orphan", order_by="Meal.starts_at"
    )
    transport_options: Mapped[list[TransportOption]] = relationship(
        cascade="all, delete-orphan", order_by="TransportOption.position"
    )
    hotel_nights: Mapped[list[HotelNight]] = relationship(
        cascade="all, delete-orphan", order_by="HotelNight.night_of"
    )
    diet_options: Mapped[list[DietOption]] = relationship(
        cascade="all, delete-orphan", order_by="DietOption.position"
    )
    #: Every postponement of a removal, oldest first (the newest of a step counts).
    retention_postponements: Mapped[list[RetentionPostponement]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="RetentionPostponement.id"
    )

    @property
    def starts_at(self) -> dt.datetime:
        """The first agenda item's start."""
        return min(day.starts_at for day in self.days)

    @property
    def ends_at(self) -> dt.datetime:
        """The last agenda item's end (or start, if it has no end)."""
        return max(day.ends_at for day in self.days)


class Contact(db.Model):
    """Someone invitees may need to reach, besides the secretariat and the hotel."""

    __tablename__ = "contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(NAME))
    #: What they do at the event, e.g. "moderator".
    title: Mapped[str] = mapped_column(String(NAME), default="")
    title_en: Mapped[str | None] = mapped_column(String(NAME))
    email: Mapped[str] = mapped_column(String(EMAIL), default="")
    phone: Mapped[str] = mapped_column(String(64), default="")


class EventDay(db.Model):
    __tablename__ = "event_day"
    __table_args__ = (
        UniqueConstraint("event_id", "key"),
        UniqueConstraint("event_id", "date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(KEY))
    #: The calendar date in the event's timezone.
    date: Mapped[dt.date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(NAME))
    title_en: Mapped[str | None] = mapped_column(String(NAME))
    #: One line on what the day is about (here: the guided tour of day 1).
    summary: Mapped[str] = mapped_column(Text, default="")
    summary_en: Mapped[str | None] = mapped_column(Text)

    event: Mapped[Event] = relationship(back_populates="days")
    items: Mapped[list[AgendaItem]] = relationship(
        back_populates="day", cascade="all, delete-orphan", order_by="AgendaItem.position"
    )

    @property
    def starts_at(self) -> dt.datetime:
        """The day's first agenda item's start."""
        return min(item.starts_at for item in self.items)

    @property
    def ends_at(self) -> dt.datetime:
        """The day's last agenda item's end (or start, if it has no end)."""
        return max(item.ends_at or item.starts_at for item in self.items)


class AgendaItem(db.Model):
    __tablename__ = "agenda_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    day_id: Mapped[int] = mapped_column(ForeignKey("event_day.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: "ca 09.30": the start is approximate.
    approximate: Mapped[bool] = mapped_column(Boolean, default=False)
    title: Mapped[str] = mapped_column(Text)
    title_en: Mapped[str | None] = mapped_column(Text)
    #: Speakers, one per line, each with their affiliation.
    speakers: Mapped[str] = mapped_column(Text, default="")
    speakers_en: Mapped[str | None] = mapped_column(Text)
    #: Longer text under the title (points of a discussion, a note on coffee).
    details: Mapped[str] = mapped_column(Text, default="")
    details_en: Mapped[str | None] = mapped_column(Text)
    place: Mapped[str] = mapped_column(String(NAME), default="")
    place_en: Mapped[str | None] = mapped_column(String(NAME))
    #: Role keys this item is for, comma-separated; empty means everyone.
    for_roles: Mapped[str] = mapped_column(String(NAME), default="")

    day: Mapped[EventDay] = relationship(back_populates="items")

    def speaker_list(self, language: str = "sv") -> list[str]:
        speakers = self.speakers_en if language == "en" and self.speakers_en else self.speakers
        return [line for line in speakers.splitlines() if line]

    @property
    def role_keys(self) -> list[str]:
        return [key for key in self.for_roles.split(",") if key]

    def is_for(self, role_key: str | None) -> bool:
        """Whether someone of this role (None: not known) has this item in their programme."""
        return not self.role_keys or role_key is None or role_key in self.role_keys


class EventOption:
    """Something the event file defines under an id (its `key`, stable across reloads) that
    invitees choose or are: a role, a diet, a meal, a transport option, a hotel night."""

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(KEY))

    @declared_attr.directive
    def __table_args__(cls):
        return (UniqueConstraint("event_id", "key"),)


class NamedOption(EventOption):
    """A role or a diet: a name in the file's order."""

    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(NAME))
    name_en: Mapped[str | None] = mapped_column(String(NAME))


class Role(NamedOption, db.Model):
    """An invitee role the agenda depends on (here: KSO / politician, official)."""

    __tablename__ = "role"


class Meal(EventOption, db.Model):
    """One sitting of a meal (or a coffee break) that the caterer must count."""

    __tablename__ = "meal"

    day_id: Mapped[int] = mapped_column(ForeignKey("event_day.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME))
    name_en: Mapped[str | None] = mapped_column(String(NAME))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    place: Mapped[str] = mapped_column(String(NAME), default="")
    place_en: Mapped[str | None] = mapped_column(String(NAME))

    day: Mapped[EventDay] = relationship()


class TransportOption(EventOption, db.Model):
    """A way to get to a day's programme: a bus, an airport pickup, or one's own way."""

    __tablename__ = "transport_option"

    day_id: Mapped[int] = mapped_column(ForeignKey("event_day.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(NAME))
    name_en: Mapped[str | None] = mapped_column(String(NAME))
    #: When to be at `place`.
    departs_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    approximate: Mapped[bool] = mapped_column(Boolean, default=False)
    place: Mapped[str] = mapped_column(String(NAME))
    place_en: Mapped[str | None] = mapped_column(String(NAME))
    #: Seats; None means unlimited.
    capacity: Mapped[int | None] = mapped_column(Integer)
    #: The invitee must give a flight number and arrival time (airport pickup).
    asks_flight: Mapped[bool] = mapped_column(Boolean, default=False)

    day: Mapped[EventDay] = relationship()


class HotelNight(EventOption, db.Model):
    """A night at the event's hotel, named by the date it begins."""

    __tablename__ = "hotel_night"

    night_of: Mapped[dt.date] = mapped_column(Date)
    #: Rooms; None means unlimited.
    capacity: Mapped[int | None] = mapped_column(Integer)


class DietOption(NamedOption, db.Model):
    __tablename__ = "diet_option"


class Invitee(db.Model):
    __tablename__ = "invitee"
    __table_args__ = (UniqueConstraint("event_id", "email_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME))
    #: `name` as a Swedish list orders it (set with `name`; see `text.sort_key`): every list by name
    #: goes by it. A plain INSERT of rows gets it from their name too.
    sort_name: Mapped[str] = mapped_column(
        CHARACTERWISE_TEXT, default=lambda context: sort_key(context.get_current_parameters()["name"])
    )
    #: As given; mail goes here.
    email: Mapped[str] = mapped_column(String(EMAIL))
    #: The address lower-cased: one invitee per address and event.
    email_key: Mapped[str] = mapped_column(String(EMAIL))
    organisation: Mapped[str] = mapped_column(String(NAME), default="")
    role_id: Mapped[int | None] = mapped_column(ForeignKey("role.id", ondelete="SET NULL"))
    #: "sv" or "en": the language of their emails and pages.
    language: Mapped[str] = mapped_column(String(8))
    #: In every signed link; raising it revokes the links issued before.
    link_version: Mapped[int] = mapped_column(Integer, default=1)
    reminders_opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Set when the secretariat removes the invitee; their links stop working.
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Set when the relay refused their address for good: no reminders or rounds go to them.
    undeliverable_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The relay's reason, for the secretariat ("550 5.1.1 no such user").
    undeliverable_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: OSA's own reason the address cannot be sent to (a `SendProblem`), "" when the relay refused it:
    #: then `undeliverable_reason` is the relay's answer, else the detail the problem names.
    undeliverable_problem: Mapped[str] = mapped_column(String(32), default="", server_default="")
    #: When the invitee asked, from their data page, to be erased (the secretariat confirms it).
    erasure_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: When their personal data was removed (by the retention clock or an erasure); only counts remain.
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    event: Mapped[Event] = relationship()
    role: Mapped[Role | None] = relationship()
    response: Mapped[Response | None] = relationship(back_populates="invitee")

    @validates("name")
    def _set_sort_name(self, _key: str, name: str) -> str:
        self.sort_name = sort_key(name)
        return name

    @property
    def role_key(self) -> str | None:
        """Their role's id in the event file (None without a role): what their programme depends on."""
        return self.role.key if self.role_id else None


response_meal = Table(
    "response_meal",
    db.metadata,
    Column("response_id", ForeignKey("response.id", ondelete="CASCADE"), primary_key=True),
    Column("meal_id", ForeignKey("meal.id", ondelete="CASCADE"), primary_key=True),
)

response_diet = Table(
    "response_diet",
    db.metadata,
    Column("response_id", ForeignKey("response.id", ondelete="CASCADE"), primary_key=True),
    Column("diet_option_id", ForeignKey("diet_option.id", ondelete="CASCADE"), primary_key=True),
)


class Response(db.Model):
    """An invitee's current answer. Its past versions are in `ResponseChange`."""

    __tablename__ = "response"

    id: Mapped[int] = mapped_column(primary_key=True)
    invitee_id: Mapped[int] = mapped_column(
        ForeignKey("invitee.id", ondelete="CASCADE"), unique=True
    )
    #: Free text for allergies and other needs beyond the diet options.
    allergies: Mapped[str] = mapped_column(Text, default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    invitee: Mapped[Invitee] = relationship(back_populates="response")
    days: Mapped[list[ResponseDay]] = relationship(
        back_populates="response", cascade="all, delete-orphan"
    )
    meals: Mapped[list[Meal]] = relationship(secondary=response_meal)
    diets: Mapped[list[DietOption]] = relationship(secondary=response_diet)
    hotel_nights: Mapped[list[ResponseHotelNight]] = relationship(
        back_populates="response", cascade="all, delete-orphan"
    )

    @property
    def attending(self) -> bool:
        """Coming on at least one day."""
        return any(day.attending for day in self.days)


class ResponseDay(db.Model):
    """Whether the invitee comes on one day, and how they get there."""

    __tablename__ = "response_day"
    __table_args__ = (UniqueConstraint("response_id", "day_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("response.id", ondelete="CASCADE"))
    day_id: Mapped[int] = mapped_column(ForeignKey("event_day.id", ondelete="CASCADE"))
    attending: Mapped[bool] = mapped_column(Boolean)
    transport_option_id: Mapped[int | None] = mapped_column(
        ForeignKey("transport_option.id", ondelete="SET NULL")
    )
    #: Set while waiting for a seat on a full transport option; the earliest moves up first.
    transport_waitlisted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    flight_number: Mapped[str] = mapped_column(String(16), default="")
    #: Local arrival time of the flight, as the invitee gave it.
    flight_arrival: Mapped[dt.time | None] = mapped_column(Time)

    response: Mapped[Response] = relationship(back_populates="days")
    day: Mapped[EventDay] = relationship()
    transport_option: Mapped[TransportOption | None] = relationship()


class ResponseHotelNight(db.Model):
    __tablename__ = "response_hotel_night"
    __table_args__ = (UniqueConstraint("response_id", "hotel_night_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("response.id", ondelete="CASCADE"))
    hotel_night_id: Mapped[int] = mapped_column(ForeignKey("hotel_night.id", ondelete="CASCADE"))
    #: Set while waiting for a room on a full night.
    waitlisted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    response: Mapped[Response] = relationship(back_populates="hotel_nights")
    hotel_night: Mapped[HotelNight] = relationship()


class ResponseChange(db.Model):
    """One change to an answer: who made it, when, and the answer before and after."""

    __tablename__ = "response_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    invitee_id: Mapped[int] = mapped_column(ForeignKey("invitee.id", ondelete="CASCADE"), index=True)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: "invitee", "admin" or "system" (a waiting-list move-up).
    actor: Mapped[str] = mapped_column(String(16))
    #: The admin's user name when `actor` is "admin".
    actor_name: Mapped[str] = mapped_column(String(NAME), default="")
    #: The answer before (None for a first answer) and after, as plain data.
    old: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    new: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: Whether the answer after comes on at least one day (set with `new`): the answers over time
    #: count it without reading each answer.
    coming: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    @validates("new")
    def _set_coming(self, _key: str, new: dict[str, Any]) -> dict[str, Any]:
        self.coming = any(day["attending"] for day in new["days"].values())
        return new


#: Mail a round sends to many at once; every other kind is one person's own and is sent first.
BULK_KINDS = frozenset({"invitation", "reminder"})


class Outbox(db.Model):
    """One email to send, written in the same transaction as the change that causes it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
        # The oldest queued email someone is waiting for, found at once however long a round is.
        Index("ix_outbox_state_bulk_id", "state", "bulk", "id"),
        # What reached the relay in the last 24 hours (the daily limit).
        Index("ix_outbox_sent_at", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id", ondelete="SET NULL"))
    invitee_id: Mapped[int | None] = mapped_column(
        ForeignKey("invitee.id", ondelete="SET NULL"), index=True
    )
    #: The template, e.g. "invitation", "confirmation", "reminder".
    kind: Mapped[str] = mapped_column(String(40))
    #: Part of a round (`BULK_KINDS`): sent only while no one's own email is waiting.
    bulk: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    recipient: Mapped[str] = mapped_column(String(EMAIL))
    #: The name shown beside the address in `To:` (the invitee's, the secretariat's, the hotel's).
    recipient_name: Mapped[str] = mapped_column(String(NAME), default="", server_default="")
    language: Mapped[str] = mapped_column(String(8))
    #: E.g. "invitation:<invitee>:<link version>": writing the same email twice is a no-op.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    #: queued → sending → sent, or failed.
    state: Mapped[str] = mapped_column(String(16), default=OutboxState.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: While `sending`: the claim expires here and the sweeper may queue the row again.
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: OSA's own reason for not sending it, or for trying again later (a `SendProblem`; "" when
    #: there is none). `last_error` holds the detail: the relay's last reply, or what the problem names.
    problem: Mapped[str] = mapped_column(String(32), default="", server_default="")
    last_error: Mapped[str] = mapped_column(Text, default="")
    #: Fixed at creation so a retry carries the same Message-ID.
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    #: A round's invitation is written without its text, which the worker that first sends it
    #: renders (from the invitee and the event as they are then) and stores here for any retry.
    pending_render: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: The message as it will be sent, rendered when the row is written (or, for `pending_render`,
    #: when it is first sent). `sender` is the From header ("Name <address>").
    sender: Mapped[str] = mapped_column(String(NAME + EMAIL))
    reply_to: Mapped[str] = mapped_column(String(EMAIL), default="")
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default="")
    #: [{"filename", "content_type", "data"}]: text data (an .ics, a CSV), or base64 with
    #: "encoding": "base64" (a picture in a report written by an older OSA).
    attachments: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    #: Automated mail carries `Auto-Submitted: auto-generated`.
    auto_submitted: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Bulk mail to an invitee: the link that stops reminders, sent as a one-click `List-Unsubscribe`.
    unsubscribe_url: Mapped[str] = mapped_column(String(500), default="", server_default="")
    #: When a sending task was last put on the queue for this row; None while none is.
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def sender_address(self) -> str:
        """The bare address of `sender`, for the SMTP envelope."""
        return parseaddr(self.sender)[1]


class RetentionPostponement(db.Model):
    """The secretariat moved a removal of personal data later, and said why (kept, newest counts)."""

    __tablename__ = "retention_postponement"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    #: "sensitive" or "personal".
    step: Mapped[str] = mapped_column(String(16))
    #: The removal runs at the start of this local day, not before.
    until: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(NAME))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImportState(StrEnum):
    """Where an uploaded invitee file is on its way in."""

    QUEUED = "queued"
    CHECKING = "checking"
    SAVING = "saving"
    DONE = "done"
    #: The file has errors (or the import stopped): nothing was imported.
    FAILED = "failed"


class ImportJob(db.Model):
    """An invitee file uploaded in the admin, checked and imported by a worker."""

    __tablename__ = "import_job"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(NAME))
    #: The file as uploaded; emptied when the job ends (it holds personal data).
    data: Mapped[bytes] = mapped_column(LargeBinary)
    #: queued → checking → saving → done, or failed.
    state: Mapped[str] = mapped_column(String(16), default=ImportState.QUEUED)
    #: About how many rows the file has (0 when it cannot tell), and how many have been checked.
    rows: Mapped[int] = mapped_column(Integer, default=0)
    checked: Mapped[int] = mapped_column(Integer, default=0)
    #: Done: the counts ({"created", "updated", "unchanged", "ignored_columns"}); failed: the problems,
    #: each once with its first lines ({"groups": [{"line", "column", "template", "params", "lines", "count"}]}).
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    #: The admin who uploaded it.
    by: Mapped[str] = mapped_column(String(NAME), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Touched by every step and progress report: a job in progress not touched for long was lost.
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    event: Mapped[Event] = relationship()


class EventChange(db.Model):
    """One load of the event file that changed what attendees see: the change log's entry."""

    __tablename__ = "event_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    loaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Each change as the attendees read it, with how many it concerns:
    #: [{"sv": "Bussen ... går kl. 08.45 i stället för 09.00.", "en": "...", "people": 12}].
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    #: How many people got a change email (0 when loaded with --no-notify).
    notified: Mapped[int] = mapped_column(Integer, default=0)
    #: False when the secretariat loaded the file without telling anyone.
    notify: Mapped[bool] = mapped_column(Boolean, default=True)


class ReportKind(StrEnum):
    """What a message in the bounce mailbox says about an email OSA sent."""

    HARD = "hard"  # the address is dead (5.x.x): the invitee is undeliverable
    SOFT = "soft"  # delayed or refused for now (4.x.x): counted, undeliverable after several
    AUTO_REPLY = "auto_reply"  # an out-of-office: a note for the secretariat, not a bounce
    CALENDAR_REPLY = "calendar_reply"  # Accept or Decline in the invitee's calendar: a note, no answer
    OTHER = "other"  # neither: kept in the mailbox's folder for a person to read


class DeliveryReport(db.Model):
    """One message read from the bounce mailbox, written once (a second poll finds it known)."""

    __tablename__ = "delivery_report"
    __table_args__ = (Index("ix_delivery_report_invitee", "invitee_id", "kind", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The report's own Message-ID (or a digest of it when it has none): one row per message.
    report_key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    #: The invitee it is about, when OSA could tell; None for a report about no email of OSA's.
    invitee_id: Mapped[int | None] = mapped_column(ForeignKey("invitee.id", ondelete="CASCADE"))
    #: The email it answers, when its Message-ID or return address was found.
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"))
    #: How the match was made: "message-id", "return-path", "calendar" (the entry's UID) or "address" (for
    #: checking false matches).
    matched_by: Mapped[str] = mapped_column(String(16), default="")
    #: The mail server's reason ("550 5.1.1 user unknown"), an auto-reply's first lines, or a calendar
    #: reply's PARTSTAT ("ACCEPTED").
    text: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AdminUser(UserMixin, db.Model):
    """A member of the secretariat who signs in to the admin."""

    __tablename__ = "admin_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(KEY), unique=True)
    name: Mapped[str] = mapped_column(String(NAME), default="")
    #: werkzeug's salted scrypt hash; the password itself is never stored.
    password_hash: Mapped[str] = mapped_column(String(255))
    #: The admin's pages are in this language ("sv" or "en").
    language: Mapped[str] = mapped_column(String(8), default="sv")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Raised by signing out: every session cookie issued before, copies included, stops working.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method="scrypt")

    def get_id(self) -> str:
        """The session's reference to this user: it names the session version and the password,
        so signing out, or a new password, ends every session signed in before."""
        fingerprint = hashlib.sha256(f"{self.session_version}.{self.password_hash}".encode()).hexdigest()[:16]
        return f"{self.id}.{fingerprint}"

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class JobRun(db.Model):
    """One scheduled job at one scheduled time: written once, so no job runs twice."""

    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("job", "event_id", "scheduled_for"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: E.g. "reminder-7", "day-before-day1".
    job: Mapped[str] = mapped_column(String(KEY))
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"))
    #: When the job was due (UTC), computed from the event's local times.
    scheduled_for: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: "done", or "missed" when the workers were down until it was too late to matter.
    state: Mapped[str] = mapped_column(String(16))
    ran_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: How many emails it queued.
    emails: Mapped[int] = mapped_column(Integer, default=0)
    #: The hotel's numbers as this run sent them (final numbers and change notices), to compare with later.
    numbers: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))

