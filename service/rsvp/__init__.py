"""The invitee's pages, reached only through their personal link `/r/<token>`.

GET shows the event and the answer form prefilled with the current answer and
never writes (mail scanners open every link). POST checks the answer and saves
it in one transaction with its history, then redirects to a thank-you page.
After the RSVP deadline the answer is shown read-only. A link that cannot be
used gets a page that says why and how to reach the secretariat.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from ..answers import Answer, check_answer, describe_answer, localized, save_answer
from ..dates import format_date, format_date_range, format_datetime, format_time
from ..db import begin_write, db, utcnow
from ..events import get_event
from ..links import LinkError, resolve_token
from ..models import Event, Invitee, Response, ResponseDay, ResponseHotelNight
from ..web import current_language, limiter, set_language
from .forms import DeclineForm, answer_form_class, answer_from_form, form_data_from_response

bp = Blueprint("rsvp", __name__, url_prefix="/r")
limiter.limit(lambda: current_app.config["LINK_RATE_LIMIT"])(bp)

#: HTTP status of each kind of unusable link.
LINK_STATUS = {"invalid": 400, "revoked": 403, "removed": 410, "expired": 410}


@bp.after_request
def _private(response):
    """Personal pages: never cached, by the browser or anything between."""
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(LinkError)
def bad_link(error: LinkError):
    """A friendly page for a link that cannot be used, in the invitee's language when known."""
    invitee = error.invitee
    event = invitee.event if invitee is not None else get_event()
    set_language(request.args.get("lang") or (invitee.language if invitee is not None else None))
    return render_template("rsvp/bad_link.html", kind=error.kind, event=event), LINK_STATUS[error.kind]


@bp.app_template_global()
def tr(row, attr: str = "name") -> str:
    """A row's text in the page's language."""
    return localized(row, attr, current_language())


@bp.app_template_global()
def local_time(instant, timezone: str, approximate: bool = False) -> str:
    """A time of day in the event's timezone, as the reader writes it: '09.00' or '09:00'."""
    return format_time(instant, timezone, current_language(), approximate)


def _open(token: str) -> Invitee:
    invitee = resolve_token(token)
    set_language(request.args.get("lang") or invitee.language)
    return invitee


def _response_of(invitee: Invitee) -> Response | None:
    return db.session.scalar(select(Response).where(Response.invitee_id == invitee.id))


def _taken(event: Event) -> tuple[dict[int, int], dict[int, int]]:
    """Seats taken per transport option and rooms taken per night."""
    seats = dict(db.session.execute(
        select(ResponseDay.transport_option_id, func.count())
        .where(ResponseDay.transport_option_id.is_not(None), ResponseDay.transport_waitlisted_at.is_(None))
        .group_by(ResponseDay.transport_option_id)
    ).all())
    rooms = dict(db.session.execute(
        select(ResponseHotelNight.hotel_night_id, func.count())
        .where(ResponseHotelNight.waitlisted_at.is_(None))
        .group_by(ResponseHotelNight.hotel_night_id)
    ).all())
    return seats, rooms


def _page(invitee: Invitee, form=None, status: int = 200):
    event = invitee.event
    language = current_language()
    response = _response_of(invitee)
    closed = utcnow() >= event.rsvp_deadline
    if form is None and not closed:
        form = answer_form_class(event)(data=form_data_from_response(event, response))
    seats, rooms = _taken(event)
    days = response.days if response else []
    nights = response.hotel_nights if response else []
    mine = {row.transport_option_id for row in days if row.transport_waitlisted_at is None}
    my_nights = {row.hotel_night_id for row in nights if row.waitlisted_at is None}
    return render_template(
        "rsvp/answer.html",
        event=event,
        invitee=invitee,
        form=form,
        decline_form=DeclineForm(),
        closed=closed,
        summary=describe_answer(event, response, language) if response else None,
        answered=response is not None,
        dates=format_date_range(event.days[0].date, event.days[-1].date, language),
        deadline=format_datetime(event.rsvp_deadline, event.timezone, language),
        day_dates={day.id: format_date(day.date, language) for day in event.days},
        seats_left={
            o.id: o.capacity - seats.get(o.id, 0) + (1 if o.id in mine else 0)
            for o in event.transport_options if o.capacity is not None
        },
        rooms_left={
            n.id: n.capacity - rooms.get(n.id, 0) + (1 if n.id in my_nights else 0)
            for n in event.hotel_nights if n.capacity is not None
        },
        night_dates={n.id: format_date(n.night_of, language) for n in event.hotel_nights},
        waiting={row.transport_option_id for row in days if row.transport_waitlisted_at is not None},
        waiting_nights={row.hotel_night_id for row in nights if row.waitlisted_at is not None},
        language=language,
        token=request.view_args["token"],
    ), status


@bp.get("/<token>")
def answer(token: str):
    """The answer page, prefilled. Reads only."""
    return _page(_open(token))


@bp.post("/<token>")
def save(token: str):
    """Check and save the answer, then show the thank-you page."""
    invitee = _open(token)
    event = invitee.event
    if utcnow() >= event.rsvp_deadline:
        return _page(invitee, status=403)
    form = answer_form_class(event)()
    if not form.validate_on_submit():
        return _page(invitee, form, status=400)
    answer_, problems = answer_from_form(event, form)
    problems.update(check_answer(event, answer_, current_language()))
    if problems:
        for name, message in problems.items():
            if name in form._fields:
                form[name].errors = [message]
            else:
                form.form_errors.append(message)
        return _page(invitee, form, status=400)
    _save(invitee, answer_)
    return redirect(url_for("rsvp.thanks", token=token, lang=current_language()), code=303)


@bp.post("/<token>/decline")
def decline(token: str):
    """'I can't come' in one tap."""
    invitee = _open(token)
    if utcnow() >= invitee.event.rsvp_deadline:
        return _page(invitee, status=403)
    if not DeclineForm().validate_on_submit():
        abort(400)
    _save(invitee, Answer.decline(invitee.event))
    return redirect(url_for("rsvp.thanks", token=token, lang=current_language()), code=303)


def _save(invitee: Invitee, answer_: Answer) -> None:
    begin_write()
    invitee.language = current_language()
    save_answer(invitee, answer_, actor="invitee")
    db.session.commit()


@bp.get("/<token>/thanks")
def thanks(token: str):
    """The saved answer, summarised, with the way back to change it."""
    invitee = _open(token)
    event = invitee.event
    response = _response_of(invitee)
    if response is None:
        return redirect(url_for("rsvp.answer", token=token, lang=current_language()))
    language = current_language()
    return render_template(
        "rsvp/thanks.html",
        event=event,
        invitee=invitee,
        attending=response.attending,
        summary=describe_answer(event, response, language),
        deadline=format_datetime(event.rsvp_deadline, event.timezone, language),
        dates=format_date_range(event.days[0].date, event.days[-1].date, language),
        language=language,
        token=token,
        page_title=_("Thank you"),
    )
