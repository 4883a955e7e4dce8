"""The invitee's pages, reached only through their personal link `/r/<token>`.

GET shows the event and the answer form prefilled with the current answer and
never writes (mail scanners open every link). POST checks the answer and saves
it in one transaction with its history, then redirects to a thank-you page.
After the RSVP deadline the answer is shown read-only. A link that cannot be
used gets a page that says why and how to reach the secretariat.

The forms carry a token bound to the link, not to a session (`forms.LinkCSRF`),
so the pages set no cookie, and a page already rendered is served again while
nothing it shows has changed (`pages`).
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select

from ..answers import (
    ROOMS,
    SEATS,
    Answer,
    check_answer,
    current_snapshot,
    describe_answer,
    localized,
    places_held,
    save_answer,
)
from ..dates import format_date, format_date_range, format_datetime, format_time
from ..db import begin_write, db, utcnow
from ..events import get_event
from ..eventview import event_view
from ..links import LinkError, resolve_token
from ..models import Invitee, Response
from ..notifications import queue_answer_emails
from ..web import csrf, current_language, limit_link_pages, never_cached, set_language
from .forms import DeclineForm, answer_from_form, form_data, invitee_answer_form_class

bp = Blueprint("rsvp", __name__, url_prefix="/r")
limit_link_pages(bp)
# The forms check their link-bound token themselves (forms.LinkCSRF).
csrf.exempt(bp)

#: HTTP status of each kind of unusable link.
LINK_STATUS = {"invalid": 400, "revoked": 403, "removed": 410, "expired": 410}


bp.after_request(never_cached)


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


def _page_texts(event, language: str, role_key: str | None) -> dict:
    """The event's texts for the answer page in one language, made once per event picture:
    headings, option labels and each day's programme, already rendered."""
    key = ("page texts", language, role_key)
    texts = event.cache.get(key)
    if texts is not None:
        return texts
    tz = event.timezone

    def at(instant, approximate=False):
        return format_time(instant, tz, language, approximate)

    texts = {
        "day": {day.id: f"{localized(day, 'title', language)}: {format_date(day.date, language)}" for day in event.days},
        "day_date": {day.id: format_date(day.date, language) for day in event.days},
        "programme": {
            day.id: Markup(render_template(
                "rsvp/_programme.html",
                items=[i for i in day.items if not i.role_keys or not role_key or role_key in i.role_keys],
                at=at, language=language,
            ))
            for day in event.days
        },
        "options": {day.id: [o for o in event.transport_options if o.day_id == day.id] for day in event.days},
        "meals": {day.id: [m for m in event.meals if m.day_id == day.id] for day in event.days},
        "transport": {
            o.id: f"{localized(o, 'name', language)}: {at(o.departs_at, o.approximate)}, {o.place}"
            for o in event.transport_options
        },
        "meal": {
            m.id: f"{localized(m, 'name', language)} {at(m.starts_at)}" + (f", {m.place}" if m.place else "")
            for m in event.meals
        },
        "diet": {d.id: localized(d, "name", language) for d in event.diet_options},
        "night": {n.id: format_date(n.night_of, language) for n in event.hotel_nights},
    }
    event.cache[key] = texts
    return texts


def _open(token: str) -> Invitee:
    invitee = resolve_token(token)
    set_language(request.args.get("lang") or invitee.language)
    return invitee


def _response_of(invitee: Invitee) -> Response | None:
    return db.session.scalar(select(Response).where(Response.invitee_id == invitee.id))


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
    role_key = invitee.role.key if invitee.role_id else None
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


def _link(invitee: Invitee, purpose: str = "rsvp") -> dict:
    """The form arguments that bind a form's token to the invitee's link."""
    return {"meta": {"csrf_context": (purpose, invitee.id, invitee.link_version)}}


def _page(invitee: Invitee, form=None, status: int = 200):
    """The answer page: the event from its cached picture, the answer from its snapshot."""
    event = event_view(invitee.event)
    language = current_language()
    answer_ = current_snapshot(invitee.id)
    closed = utcnow() >= event.rsvp_deadline
    if form is None and not closed:
        form = invitee_answer_form_class(event)(data=form_data(answer_), **_link(invitee))
    return render_template(
        "rsvp/answer.html",
        event=event,
        invitee=invitee,
        form=form,
        decline_form=DeclineForm(**_link(invitee)),
        closed=closed,
        summary=describe_answer(invitee.event, _response_of(invitee), language) if closed and answer_ else None,
        answered=answer_ is not None,
        dates=format_date_range(event.days[0].date, event.days[-1].date, language),
        deadline=format_datetime(event.rsvp_deadline, event.timezone, language),
        language=language,
        token=request.view_args["token"],
        **answer_form_context(invitee, event, answer_),
    ), status


def put_problems_on_form(form, problems: dict[str, str]) -> None:
    """Each problem beside its field, or above the form when no field is its own."""
    for name, message in problems.items():
        if name in form._fields:
            form[name].errors = [message]
        else:
            form.form_errors.append(message)


@bp.get("/<token>")
def answer(token: str):
    """The answer page, prefilled. Reads only: a mail scanner opening the link changes nothing."""
    return _page(_open(token))


@bp.post("/<token>")
def save(token: str):
    """Check and save the answer, then show the thank-you page."""
    invitee = _open(token)
    event = event_view(invitee.event)
    if utcnow() >= event.rsvp_deadline:
        return _page(invitee, status=403)
    form = invitee_answer_form_class(event)(**_link(invitee))
    if not form.validate_on_submit():
        return _page(invitee, form, status=400)
    answer_, problems = answer_from_form(event, form)
    problems.update(check_answer(event, answer_, current_language()))
    if problems:
        put_problems_on_form(form, problems)
        return _page(invitee, form, status=400)
    _save(invitee, answer_)
    return redirect(url_for("rsvp.thanks", token=token, lang=current_language()), code=303)


@bp.post("/<token>/decline")
def decline(token: str):
    """'I can't come' in one tap."""
    invitee = _open(token)
    if utcnow() >= invitee.event.rsvp_deadline:
        return _page(invitee, status=403)
    if not DeclineForm(**_link(invitee)).validate_on_submit():
        abort(400)
    _save(invitee, Answer.decline(invitee.event))
    return redirect(url_for("rsvp.thanks", token=token, lang=current_language()), code=303)


def _save(invitee: Invitee, answer_: Answer) -> None:
    begin_write()
    if invitee.language != current_language():  # the language they answered in, for their emails
        invitee.language = current_language()
    result = save_answer(invitee, answer_, actor="invitee")
    queue_answer_emails(invitee, result)
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


@bp.route("/<token>/no-reminders", methods=["GET", "POST"])
def opt_out(token: str):
    """Stop reminders. GET only asks (mail scanners open links); the button POSTs."""
    invitee = resolve_token(token, purpose="optout")
    set_language(request.args.get("lang") or invitee.language)
    form = DeclineForm(**_link(invitee, "optout"))
    done = False
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        begin_write()
        invitee.reminders_opted_out = True
        db.session.commit()
        done = True
    return render_template(
        "rsvp/opt_out.html", event=invitee.event, invitee=invitee, form=form, done=done,
        opted_out=invitee.reminders_opted_out, language=current_language(),
        page_title=_("Reminders"),
    )
