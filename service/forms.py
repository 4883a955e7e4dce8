"""The answer form, built for the event at hand: a yes/no per day, that day's transport
and meals, diets and allergies, hotel nights and a comment. The invitee's page and
the admin's "answer for" page both use it, with the texts its fields show.

The form checks only what a field can check alone (lengths, CSRF); choices that
contradict each other are found by `service.answers.check_answer`, whose
messages are put beside the fields they concern.

An invitee's forms carry a token bound to their link (`LinkCSRF`) instead of
one bound to a session: the link is the secret that opens the page, so a
session adds nothing, and without one a mail scanner's GET sets no cookie and
nothing is stored for a visit.
"""

from __future__ import annotations

import datetime as dt
import re

from flask import render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from markupsafe import Markup
from wtforms import BooleanField, HiddenField, StringField, TextAreaField
from wtforms.csrf.core import CSRF
from wtforms.validators import Length, Optional

from .answers import ROOMS, SEATS, Answer, DayAnswer, localized, places_held
from .dates import format_date, format_datetime, format_time
from .links import form_token, is_form_token
from .models import Actor, Event, Invitee, ResponseChange
from .text import PlainText, normalized, whole_number
from .web import current_language

_TIME = re.compile(r"^\s*(\d{1,2})[:.]?(\d{2})\s*$")


def at_most(characters: int) -> Length:
    """WTForms' Length, saying so in the reader's language (WTForms' own message is English)."""
    return Length(max=characters, message=_l("At most %(max)d characters, please.", max=characters))


def text_field(characters: int, multiline: bool = False) -> dict:
    """A free-text field's filters and validators: NFC, no invisible characters, at most `characters`."""
    return {"filters": [normalized], "validators": [PlainText(multiline), Optional(), at_most(characters)]}


class LinkCSRF(CSRF):
    """A CSRF token made from the link the form was opened with: the form's
    `meta.csrf_context` is that link's `(purpose, invitee id, link version)`.

    A wrong or missing token raises Flask-WTF's `CSRFError`, the same page and
    status (400) as a session form's."""

    def setup_form(self, form):
        self.link = form.meta.csrf_context
        return super().setup_form(form)

    def generate_csrf_token(self, csrf_token_field) -> str:
        return form_token(*self.link)

    def validate_csrf_token(self, form, field) -> None:
        if not is_form_token(*self.link, field.data):
            raise CSRFError("The form's token does not belong to this link.")


class LinkForm(FlaskForm):
    """A form on an invitee's page: make it with `meta={"csrf_context": (purpose, id, version)}`."""

    class Meta:
        csrf_class = LinkCSRF
        csrf_context = None


class DeclineForm(LinkForm):
    """'I can't come' (and 'no more reminders'): one button, with only the link's token."""


def invitee_answer_form_class(event) -> type[FlaskForm]:
    """`answer_form_class` for the invitee's own page: its token is bound to their link."""
    return type("InviteeAnswerForm", (LinkForm, answer_form_class(event)), {})


def parse_time(text: str) -> dt.time | None:
    """'09:30', '9.30' or '0930' as a time; None when it is not one."""
    match = _TIME.match(text or "")
    if not match:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        return None
    return dt.time(hour, minute)


def answer_form_class(event) -> type[FlaskForm]:
    """A form class with a field for every choice the event offers."""

    class AnswerForm(FlaskForm):
        allergies = TextAreaField(_l("Allergies or other needs"), **text_field(1000, multiline=True))
        comment = TextAreaField(_l("Anything else the secretariat should know?"), **text_field(2000, multiline=True))
        #: How many changes the answer had when the form was opened (`answers.current_answer`).
        seen = HiddenField()

    for day in event.days:
        # Radio groups are plain strings here; the template draws the buttons and
        # `check_answer` judges the values.
        setattr(AnswerForm, f"day_{day.key}", StringField(**text_field(8)))
        day_options = [o for o in event.transport_options if o.day_id == day.id]
        if day_options:
            setattr(AnswerForm, f"transport_{day.key}", StringField(**text_field(64)))
        if any(o.asks_flight for o in day_options):
            setattr(AnswerForm, f"flight_number_{day.key}", StringField(
                _l("Flight number"), **text_field(16),
            ))
            setattr(AnswerForm, f"flight_arrival_{day.key}", StringField(
                _l("Lands at"), **text_field(8),
            ))
    for meal in event.meals:
        setattr(AnswerForm, f"meal_{meal.key}", BooleanField(meal.name))
    for diet in event.diet_options:
        setattr(AnswerForm, f"diet_{diet.key}", BooleanField(diet.name))
    for night in event.hotel_nights:
        setattr(AnswerForm, f"night_{night.key}", BooleanField())
    return AnswerForm


def form_data(answer: dict | None, seen: int) -> dict:
    """The form's initial values from an answer's snapshot (`service.answers.snapshot`) and how many
    changes it has had (`service.answers.current_answer`)."""
    if answer is None:
        return {"seen": seen}
    data: dict = {"allergies": answer["allergies"], "comment": answer["comment"], "seen": seen}
    for key, day in answer["days"].items():
        data[f"day_{key}"] = "yes" if day["attending"] else "no"
        if day["transport"]:
            data[f"transport_{key}"] = day["transport"]
        data[f"flight_number_{key}"] = day["flight_number"]
        data[f"flight_arrival_{key}"] = day["flight_arrival"] or ""
    for name, prefix in (("meals", "meal_"), ("diets", "diet_"), ("hotel_nights", "night_")):
        for key in answer[name]:
            data[prefix + key] = True
    return data


def answer_from_form(event: Event, form: FlaskForm) -> tuple[Answer, dict[str, str]]:
    """The answer the form holds, and fields whose text could not be read (an arrival time)."""
    problems: dict[str, str] = {}
    days: dict[str, DayAnswer] = {}
    for day in event.days:
        attending = form[f"day_{day.key}"].data
        if attending not in ("yes", "no"):
            continue
        transport_field = form._fields.get(f"transport_{day.key}")
        transport = transport_field.data if transport_field is not None and transport_field.data else None
        number_field = form._fields.get(f"flight_number_{day.key}")
        arrival_field = form._fields.get(f"flight_arrival_{day.key}")
        arrival = None
        if arrival_field is not None and (arrival_field.data or "").strip():
            arrival = parse_time(arrival_field.data)
            if arrival is None:
                problems[arrival_field.name] = str(_l(
                    "'%(text)s' is not a time of day: write the time the flight lands as 09:30.",
                    text=arrival_field.data.strip()))
        days[day.key] = DayAnswer(
            attending=attending == "yes",
            # A radio button cannot be unticked: a day answered "no" ignores its transport.
            transport=transport if attending == "yes" else None,
            flight_number=(number_field.data or "") if number_field is not None else "",
            flight_arrival=arrival,
        )
    answer = Answer(
        days=days,
        meals={meal.key for meal in event.meals if form[f"meal_{meal.key}"].data},
        diets={diet.key for diet in event.diet_options if form[f"diet_{diet.key}"].data},
        allergies=form.allergies.data or "",
        hotel_nights={night.key for night in event.hotel_nights if form[f"night_{night.key}"].data},
        comment=form.comment.data or "",
    )
    return answer, problems


def _page_texts(event, language: str, role_key: str | None) -> dict:
    """The event's texts for the answer page in one language: headings, option labels
    and each day's programme, already rendered."""
    tz = event.timezone

    def at(instant, approximate=False):
        return format_time(instant, tz, language, approximate)

    texts = {
        "day": {day.id: f"{localized(day, 'title', language)}: {format_date(day.date, language)}" for day in event.days},
        "day_date": {day.id: format_date(day.date, language) for day in event.days},
        "programme": {
            day.id: Markup(render_template(
                "rsvp/_programme.html",
                items=[item for item in day.items if item.is_for(role_key)],
                at=at, language=language,
            ))
            for day in event.days
        },
        "options": {day.id: [o for o in event.transport_options if o.day_id == day.id] for day in event.days},
        "meals": {day.id: [m for m in event.meals if m.day_id == day.id] for day in event.days},
        "transport": {
            o.id: f"{localized(o, 'name', language)}: {at(o.departs_at, o.approximate)}, {localized(o, 'place', language)}"
            for o in event.transport_options
        },
        "meal": {
            m.id: f"{localized(m, 'name', language)} {at(m.starts_at)}" + (f", {localized(m, 'place', language)}" if m.place else "")
            for m in event.meals
        },
        "diet": {d.id: localized(d, "name", language) for d in event.diet_options},
        "night": {n.id: format_date(n.night_of, language) for n in event.hotel_nights},
    }
    return texts


def seen_on(form) -> int | None:
    """How many changes of the answer the submitted form had seen; None from a form that does not say (or
    says something no form of OSA's does)."""
    return whole_number(form.seen.data or "")


def changed_meanwhile(change: ResponseChange, invitee: Invitee, to_invitee: bool) -> str:
    """Why the form was not saved: who changed the answer after it was opened, and when."""
    when = format_datetime(change.changed_at, invitee.event.timezone, current_language())
    if to_invitee:
        return _("The secretariat changed your answer on %(when)s, after you opened this page. Nothing you sent "
                 "has been saved: the form now shows your answer as it is. Make your changes again and save.", when=when)
    who = invitee.name if change.actor == Actor.INVITEE else change.actor_name
    return _("%(who)s changed the answer on %(when)s, after you opened this page. Nothing you sent has been saved: "
             "the form now shows the answer as it is. Make your changes again and save.", who=who, when=when)


def answer_form_context(invitee: Invitee, event, answer_: dict | None) -> dict:
    """What the answer form's fields show besides the form: the event's texts in the
    page's language, places left, and where the invitee waits. The admin's form uses it too."""
    language = current_language()
    seats, rooms = places_held()
    option_ids = {option.key: option.id for option in event.transport_options}
    night_ids = {night.key: night.id for night in event.hotel_nights}
    days = answer_["days"].values() if answer_ else []
    nights = answer_["hotel_nights"].items() if answer_ else []
    mine = {option_ids.get(day["transport"]) for day in days if day["transport"] and not day["waitlisted"]}
    my_nights = {night_ids.get(key) for key, night in nights if not night["waitlisted"]}
    role_key = invitee.role_key
    return {
        "texts": _page_texts(event, language, role_key),
        "seats_left": {
            o.id: o.capacity - seats.get(o.id, 0) + (1 if o.id in mine else 0)
            for o in event.transport_options if o.capacity is not None
        },
        "rooms_left": {
            n.id: n.capacity - rooms.get(n.id, 0) + (1 if n.id in my_nights else 0)
            for n in event.hotel_nights if n.capacity is not None
        },
        # {option id: place in line} for each option the invitee waits for.
        "waiting": SEATS.places_in_line(invitee.id) if any(day["waitlisted"] for day in days) else {},
        "waiting_nights": ROOMS.places_in_line(invitee.id) if any(night["waitlisted"] for key, night in nights) else {},
    }


def put_problems_on_form(form, problems: dict[str, str]) -> None:
    """Each problem beside its field, or above the form when no field is its own."""
    for name, message in problems.items():
        if name in form._fields:
            form[name].errors = [message]
        else:
            form.form_errors.append(message)
