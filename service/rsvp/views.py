"""The invitee's pages, reached only through their personal link `/r/<token>`.

GET shows the event and the answer form prefilled with the current answer and
never writes (mail scanners open every link). POST checks the answer and saves
it in one transaction with its history, then redirects to a thank-you page, which
links each day they come to its calendar file.
After the RSVP deadline the answer is shown read-only. A link that cannot be
used gets a page that says why and how to reach the secretariat. "Your data" shows
everything OSA holds about the invitee (also as JSON) and takes a request for erasure.

The forms carry a token bound to the link, not to a session (`forms.LinkCSRF`),
so the pages set no cookie.
"""

from __future__ import annotations

import json

from flask import (
    Blueprint,
    abort,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import Response as Response_
from flask_babel import gettext as _
from sqlalchemy import select

from ..answers import (
    Answer,
    ChangedMeanwhile,
    check_answer,
    current_answer,
    current_snapshot,
    day_heading,
    describe_answer,
    localized,
    save_answer,
)
from ..dates import format_datetime
from ..db import utcnow, write_transaction
from ..events import get_event
from ..extensions import csrf, db
from ..forms import (
    DeclineForm,
    answer_form_context,
    answer_from_form,
    changed_meanwhile,
    form_data,
    invitee_answer_form_class,
    put_problems_on_form,
    seen_on,
)
from ..links import LinkError, resolve_token
from ..mail.compose import calendar_of_day, queue_answer_emails
from ..models import Actor, Invitee, Response
from ..retention import personal_data, removal_dates
from ..web import current_language, limit_link_pages, never_cached, set_language

bp = Blueprint("rsvp", __name__, url_prefix="/r")
limit_link_pages(bp)
# The forms check their link-bound token themselves (forms.LinkCSRF).
csrf.exempt(bp)

#: HTTP status of each kind of unusable link.
LINK_STATUS = {"invalid": 400, "revoked": 403, "removed": 410, "expired": 410, "erased": 410}


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


def _open(token: str) -> Invitee:
    invitee = resolve_token(token)
    set_language(request.args.get("lang") or invitee.language)
    return invitee


def _response_of(invitee: Invitee) -> Response | None:
    return db.session.scalar(select(Response).where(Response.invitee_id == invitee.id))


def _calendar_links(response: Response | None, token: str, language: str) -> list[tuple[str, str]]:
    """Each day the answer comes to, with the address of its calendar file."""
    return [(day_heading(row.day, language), url_for("rsvp.day_calendar", token=token, day_key=row.day.key))
            for row in sorted(response.days if response else [], key=lambda row: row.day.date) if row.attending]


def _link(invitee: Invitee, purpose: str = "rsvp") -> dict:
    """The form arguments that bind a form's token to the invitee's link."""
    return {"meta": {"csrf_context": (purpose, invitee.id, invitee.link_version)}}


def _page(invitee: Invitee, form=None, status: int = 200, meanwhile: str = ""):
    """The answer page, the answer from its snapshot (in a fresh form unless `form` is given); `meanwhile`
    says who changed the answer since the form that was sent was opened."""
    event = invitee.event
    language = current_language()
    seen, answer_ = current_answer(invitee.id)
    closed = utcnow() >= event.rsvp_deadline
    response = _response_of(invitee) if closed else None
    if form is None and not closed:
        form = invitee_answer_form_class(event)(formdata=None, data=form_data(answer_, seen), **_link(invitee))
    return render_template(
        "rsvp/answer.html",
        event=event,
        invitee=invitee,
        form=form,
        decline_form=DeclineForm(**_link(invitee)),
        closed=closed,
        changed_meanwhile=meanwhile,
        summary=describe_answer(invitee.event, response, language) if closed and answer_ else None,
        calendars=_calendar_links(response, request.view_args["token"], language),
        answered=answer_ is not None,
        deadline=format_datetime(event.rsvp_deadline, event.timezone, language),
        language=language,
        token=request.view_args["token"],
        removal_dates=removal_dates(event, language),
        **answer_form_context(invitee, event, answer_),
    ), status


@bp.get("/accessibility")
def accessibility():
    """The accessibility statement (tillgänglighetsredogörelse), linked from every invitee page: how
    the pages meet WCAG 2.1 AA, what is known not to, and how to report a problem."""
    event = get_event()
    if event is None:
        abort(404)
    language = set_language(request.args.get("lang") or event.default_language)
    own = localized(event, "accessibility_statement", language)
    return render_template(
        "rsvp/accessibility.html", event=event, own=own.split("\n\n") if own else None, language=language,
        page_title=_("Accessibility statement"),
    )


@bp.get("/<token>")
def answer(token: str):
    """The answer page, prefilled. Reads only: a mail scanner opening the link changes nothing."""
    return _page(_open(token))


@bp.post("/<token>")
def save(token: str):
    """Check and save the answer, then show the thank-you page."""
    invitee = _open(token)
    event = invitee.event
    if utcnow() >= event.rsvp_deadline:
        return _page(invitee, status=403)
    form = invitee_answer_form_class(event)(**_link(invitee))
    if not form.validate_on_submit():
        return _page(invitee, form, status=400)
    answer_, problems = answer_from_form(event, form)
    problems = {**check_answer(event, answer_, current_language()), **problems}  # a time it could not read first
    if problems:
        put_problems_on_form(form, problems)
        return _page(invitee, form, status=400)
    try:
        _save(invitee, answer_, seen_on(form))
    except ChangedMeanwhile as changed:
        return _page(invitee, status=409, meanwhile=changed_meanwhile(changed.change, invitee, to_invitee=True))
    return redirect(url_for("rsvp.thanks", token=token, lang=current_language()), code=303)


@bp.post("/<token>/decline")
def decline(token: str):
    """'I can't come': the button asks once more on a page of its own (no script needed), and only
    the second button, with `confirmed`, saves no on every day. Diet, allergies and comment stay."""
    invitee = _open(token)
    event = invitee.event
    if utcnow() >= event.rsvp_deadline:
        return _page(invitee, status=403)
    form = DeclineForm(**_link(invitee))
    if not form.validate_on_submit():
        abort(400)
    if request.form.get("confirmed") != "yes":
        language = current_language()
        return render_template(
            "rsvp/decline.html", event=event, invitee=invitee, form=form, token=token, language=language,
            page_title=_("I can't come"),
        )
    _save(invitee, Answer.decline(event, current_snapshot(invitee.id)))
    return redirect(url_for("rsvp.thanks", token=token, lang=current_language()), code=303)


@bp.get("/<token>/decline")
def decline_again(token: str):
    """The address of the 'I can't come' page opened again (a phone's browser reloads a tab): the
    answer page, where the button is. Nothing changes."""
    _open(token)
    return redirect(url_for("rsvp.answer", token=token, lang=current_language()))


def _save(invitee: Invitee, answer_: Answer, seen: int | None = None) -> None:
    with write_transaction():
        if invitee.language != current_language():  # the language they answered in, for their emails
            invitee.language = current_language()
        queue_answer_emails(invitee, save_answer(invitee, answer_, actor=Actor.INVITEE, seen=seen))


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
        calendars=_calendar_links(response, token, language),
        summary=describe_answer(event, response, language),
        deadline=format_datetime(event.rsvp_deadline, event.timezone, language),
        language=language,
        token=token,
        page_title=_("Thank you"),
    )


@bp.get("/<token>/calendar/<day_key>.ics")
def day_calendar(token: str, day_key: str):
    """The calendar file of a day the invitee comes, as their confirmation carries it: a phone opens it
    in its calendar."""
    invitee = _open(token)
    day = next((day for day in invitee.event.days if day.key == day_key), None)
    response = _response_of(invitee)
    file = calendar_of_day(invitee, response, day) if day is not None and response is not None else None
    if file is None:
        abort(404)
    download = Response_(file["data"], content_type=file["content_type"])
    download.headers.set("Content-Disposition", "inline", filename=file["filename"])
    return download


@bp.route("/<token>/no-reminders", methods=["GET", "POST"])
def opt_out(token: str):
    """Stop reminders, and nothing else (the answer stays as it is). GET only asks (mail scanners
    open links); the page's button POSTs, and so does a mail program's one-click unsubscribe
    (RFC 8058: `List-Unsubscribe=One-Click`, with no form token, since the link is the secret)."""
    invitee = resolve_token(token, purpose="optout")
    set_language(request.args.get("lang") or invitee.language)
    form = DeclineForm(**_link(invitee, "optout"))
    done = False
    if request.method == "POST":
        one_click = request.form.get("List-Unsubscribe") == "One-Click"
        if not one_click and not form.validate_on_submit():
            abort(400)
        with write_transaction():
            invitee.reminders_opted_out = True
        done = True
    return render_template(
        "rsvp/opt_out.html", event=invitee.event, invitee=invitee, form=form, done=done,
        opted_out=invitee.reminders_opted_out, page_title=_("Reminders"),
    )


def _data_page(invitee: Invitee, token: str, requested: bool = False):
    language = current_language()
    event = invitee.event
    data = personal_data(invitee, language)
    return render_template(
        "rsvp/data.html", event=event, invitee=invitee, data=data, removal_dates=data["removal"],
        erase_form=DeclineForm(**_link(invitee, "rsvp")), requested=requested, token=token, language=language,
        page_title=_("Your data"),
    )


@bp.get("/<token>/data")
def your_data(token: str):
    """Everything OSA holds about the invitee, readable, with a JSON download and a way to ask for
    erasure. Works after the event too, as long as OSA holds their data."""
    invitee = resolve_token(token, after_the_event=True)
    set_language(request.args.get("lang") or invitee.language)
    return _data_page(invitee, token)


@bp.get("/<token>/data.json")
def your_data_json(token: str):
    """The same, as a JSON file to keep."""
    invitee = resolve_token(token, after_the_event=True)
    body = json.dumps(personal_data(invitee, invitee.language), ensure_ascii=False, indent=2)
    return Response_(body, mimetype="application/json",
                     headers={"Content-Disposition": f'attachment; filename="{invitee.event.slug}-data.json"'})


@bp.get("/<token>/erase")
def erase_page_again(token: str):
    """The address of the erasure request opened again: the data page, where the button is."""
    invitee = resolve_token(token, after_the_event=True)
    return redirect(url_for("rsvp.your_data", token=token, lang=request.args.get("lang") or invitee.language))


@bp.post("/<token>/erase")
def ask_for_erasure(token: str):
    """Ask the secretariat to erase the invitee's data; they confirm it in the admin."""
    invitee = resolve_token(token, after_the_event=True)
    set_language(request.args.get("lang") or invitee.language)
    if not DeclineForm(**_link(invitee, "rsvp")).validate_on_submit():
        abort(400)
    if invitee.erasure_requested_at is None:
        with write_transaction():
            invitee.erasure_requested_at = utcnow()
    return _data_page(invitee, token, requested=True)
