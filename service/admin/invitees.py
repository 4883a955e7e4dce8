"""Invitees: the searchable list, one invitee's page (answer, history, emails), answering
on their behalf, adding and removing, a new link, and resending the invitation."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload
from wtforms import HiddenField, StringField

from ..answers import (
    ChangedMeanwhile,
    check_answer,
    current_answer,
    describe_answer,
    put_back_on_list,
    save_answer,
    take_off_list,
)
from ..dates import format_datetime
from ..db import write_transaction
from ..extensions import db
from ..forms import (
    answer_form_class,
    answer_form_context,
    answer_from_form,
    at_most,
    changed_meanwhile,
    form_data,
    put_problems_on_form,
    seen_on,
)
from ..headcount import describe_change
from ..invitee_import import InviteeFileError, add_invitee, change_details, checked_address, correct_address
from ..links import issue_new_link, rsvp_url
from ..mail.bounces import note_text, notes, soft_bounces
from ..mail.compose import (
    queue_answer_emails,
    queue_invitation,
    queue_moved_up_emails,
    queue_put_back_emails,
)
from ..models import (
    Actor,
    Event,
    Invitee,
    Outbox,
    Response,
    ResponseChange,
    ResponseDay,
    ResponseHotelNight,
    Role,
    TransportOption,
)
from ..text import cleaned, sort_key
from ..web import current_language
from . import admin_event, bp

#: The states an invitee's answer can be in, as the list filters them.
STATUSES = {
    "coming": _l("Coming"),
    "declined": _l("Not coming"),
    "no_answer": _l("No answer"),
    "waiting": _l("On a waiting list"),
    "undeliverable": _l("Email does not reach them"),
    "removed": _l("Removed"),
}


def event_or_404() -> Event:
    event = admin_event()
    if event is None:
        abort(404)
    return event


def _invitee_or_404(invitee_id: int) -> Invitee:
    invitee = db.session.get(Invitee, invitee_id)
    if invitee is None or invitee.event_id != event_or_404().id:
        abort(404)
    return invitee


@dataclass
class InviteeRow:
    invitee: Invitee
    status: str
    waiting: bool


def status_of(invitee: Invitee) -> tuple[str, bool]:
    """("coming" | "declined" | "no_answer" | "undeliverable" | "removed", on a waiting list)."""
    response = invitee.response
    waiting = response is not None and (
        any(d.transport_waitlisted_at for d in response.days) or any(n.waitlisted_at for n in response.hotel_nights)
    )
    if invitee.removed_at is not None:
        return "removed", waiting
    if response is None:
        return ("undeliverable" if invitee.undeliverable_at is not None else "no_answer"), False
    return ("coming" if response.attending else "declined"), waiting


#: Invitees on one page of the list.
PAGE_SIZE = 100


def filter_conditions(event: Event, status: str, role: str, organisation: str, transport: str, search: str):
    """The conditions on Invitee for the list's filters (as `status_of` judges each invitee)."""
    answered = select(Response.id).where(Response.invitee_id == Invitee.id)
    coming = select(ResponseDay.id).join(Response, Response.id == ResponseDay.response_id).where(
        Response.invitee_id == Invitee.id, ResponseDay.attending.is_(True))
    conditions = [Invitee.event_id == event.id,
                  Invitee.removed_at.is_not(None) if status == "removed" else Invitee.removed_at.is_(None)]
    if status == "coming":
        conditions.append(coming.exists())
    elif status == "declined":
        conditions += [answered.exists(), ~coming.exists()]
    elif status in ("no_answer", "undeliverable"):
        conditions.append(~answered.exists())
        conditions.append(Invitee.undeliverable_at.is_(None) if status == "no_answer" else Invitee.undeliverable_at.is_not(None))
    elif status == "waiting":
        days = select(ResponseDay.id).join(Response, Response.id == ResponseDay.response_id).where(
            Response.invitee_id == Invitee.id, ResponseDay.transport_waitlisted_at.is_not(None))
        nights = select(ResponseHotelNight.id).join(Response, Response.id == ResponseHotelNight.response_id).where(
            Response.invitee_id == Invitee.id, ResponseHotelNight.waitlisted_at.is_not(None))
        conditions.append(or_(days.exists(), nights.exists()))
    if role:
        conditions.append(Invitee.role_id.in_(select(Role.id).where(Role.event_id == event.id, Role.key == role)))
    if organisation:
        conditions.append(Invitee.organisation == organisation)
    if transport:
        conditions.append(coming.join(TransportOption, TransportOption.id == ResponseDay.transport_option_id)
                          .where(TransportOption.key == transport).exists())
    if search:  # names by their sort name, so "jose" finds José (but "asa" not Åsa, another letter)
        def pattern(text: str) -> str:  # a % or _ someone types is that character, not a wildcard
            return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(or_(Invitee.sort_name.like(pattern(sort_key(search)), escape="\\"),
                              *(func.lower(column).like(pattern(search.lower()), escape="\\")
                                for column in (Invitee.email, Invitee.organisation))))
    return conditions


@bp.get("/invitees")
def invitees():
    """The invitees a page at a time, searched by name, email or organisation and filtered by status,
    role, organisation and transport in the database."""
    event = event_or_404()
    args = {key: cleaned(value) for key, value in request.args.items()}  # no NUL for the database to refuse
    search = (args.get("q") or "").strip()
    filters = {"q": search, "status": args.get("status", "") if args.get("status", "") in STATUSES else "",
               "role": args.get("role", ""), "organisation": args.get("organisation", ""),
               "transport": args.get("transport", "")}
    conditions = filter_conditions(event, filters["status"], filters["role"], filters["organisation"], filters["transport"],
                           search)
    shown = db.session.scalar(select(func.count(Invitee.id)).where(*conditions))
    total = db.session.scalar(select(func.count(Invitee.id)).where(Invitee.event_id == event.id))
    pages = max(1, -(-shown // PAGE_SIZE))
    page = min(max(1, request.args.get("page", 1, type=int)), pages)
    people = db.session.scalars(
        select(Invitee).where(*conditions).order_by(Invitee.sort_name, Invitee.id)
        .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
        .options(selectinload(Invitee.role),
                 selectinload(Invitee.response).selectinload(Response.days),
                 selectinload(Invitee.response).selectinload(Response.hotel_nights))
    ).all()
    organisations = sorted(db.session.scalars(
        select(Invitee.organisation).where(Invitee.event_id == event.id, Invitee.organisation != "").distinct()
    ), key=sort_key)
    link = {key: value for key, value in filters.items() if value}
    return render_template(
        "admin/invitees.html", event=event, rows=[InviteeRow(invitee, *status_of(invitee)) for invitee in people],
        shown=shown, total=total, page=page, pages=pages, link=link, statuses=STATUSES,
        organisations=organisations, filters=filters,
    )


class DetailsForm(FlaskForm):
    name = StringField(_l("Name"), validators=[at_most(200)])
    organisation = StringField(_l("Organisation"), validators=[at_most(200)])
    #: Drawn as a list of the event's roles; the import's checks judge the value.
    role = StringField(_l("Role"), validators=[at_most(64)])
    language = StringField(_l("Language"), validators=[at_most(8)])


class InviteeForm(DetailsForm):
    email = StringField(_l("Email"), validators=[at_most(320)])


def _show_problems(form: FlaskForm, error: InviteeFileError) -> None:
    """The import's problems beside the form's fields (on the form when no field has the name)."""
    for problem in error.errors:
        field = form._fields.get(problem.column)
        (field.errors if field is not None else form.form_errors).append(problem.message_in(current_language()))


@bp.route("/invitees/new", methods=["GET", "POST"])
def new_invitee():
    """Add one invitee (the import's checks apply); they are invited from the send page."""
    event = event_or_404()
    form = InviteeForm()
    if form.validate_on_submit():
        try:
            with write_transaction():
                add_invitee(event, form.name.data, form.email.data, form.organisation.data, form.role.data,
                            form.language.data)
        except InviteeFileError as error:
            _show_problems(form, error)
            return render_template("admin/invitee_form.html", event=event, form=form), 400
        invitee = db.session.scalar(
            select(Invitee).where(Invitee.event_id == event.id, Invitee.email_key == form.email.data.strip().lower())
        )
        flash(_("%(name)s is on the list. Send the invitation from Send invitations.", name=form.name.data.strip()))
        if invitee is not None:
            return redirect(url_for("admin.invitee", invitee_id=invitee.id))
        return redirect(url_for("admin.invitees"))
    return render_template("admin/invitee_form.html", event=event, form=form), 400 if form.errors else 200


@bp.route("/invitees/<int:invitee_id>/details", methods=["GET", "POST"])
def change_details_of(invitee_id: int):
    """Correct the invitee's name, organisation, role (and with it their programme) or language, with
    the import's checks; their link, answer and address stay as they are."""
    invitee = _invitee_or_404(invitee_id)
    if invitee.removed_at is not None or invitee.erased_at is not None:
        abort(409)
    form = DetailsForm(data={"name": invitee.name, "organisation": invitee.organisation,
                             "role": invitee.role_key or "", "language": invitee.language}
                       if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            with write_transaction():
                change_details(invitee, form.name.data, form.organisation.data, form.role.data, form.language.data)
        except InviteeFileError as error:
            _show_problems(form, error)
        else:
            flash(_("The details of %(name)s are saved.", name=invitee.name))
            return redirect(url_for("admin.invitee", invitee_id=invitee.id))
    return render_template("admin/invitee_form.html", event=invitee.event, invitee=invitee, form=form), \
        400 if form.errors else 200


@bp.get("/invitees/<int:invitee_id>")
def invitee(invitee_id: int):
    """One invitee: their answer, its history, and every email sent to them."""
    invitee = _invitee_or_404(invitee_id)
    event = invitee.event
    language = current_language()
    changes = db.session.scalars(
        select(ResponseChange).where(ResponseChange.invitee_id == invitee.id).order_by(ResponseChange.id.desc())
    ).all()
    emails = db.session.scalars(
        select(Outbox).where(Outbox.invitee_id == invitee.id).order_by(Outbox.id.desc())
    ).all()
    status, waiting = status_of(invitee)
    return render_template(
        "admin/invitee.html", event=event, invitee=invitee, status=STATUSES[status], waiting=waiting,
        summary=describe_answer(event, invitee.response, language, to_invitee=False) if invitee.response else None,
        history=[(format_datetime(c.changed_at, event.timezone, language), c, describe_change(event, c.old, c.new, language))
                 for c in changes],
        emails=[(format_datetime(e.sent_at or e.created_at, event.timezone, language), e) for e in emails],
        link=rsvp_url(invitee) if invitee.removed_at is None and invitee.erased_at is None else None, language=language,
        notes=[(format_datetime(r.received_at, event.timezone, language), r.kind, note_text(r, invitee.response is not None))
               for r in notes(invitee)],
        soft_bounces=soft_bounces(invitee),
    )


@bp.route("/invitees/<int:invitee_id>/answer", methods=["GET", "POST"])
def answer_for(invitee_id: int):
    """Answer on the invitee's behalf: saved as the admin's change, and confirmed to them by email."""
    invitee = _invitee_or_404(invitee_id)
    if invitee.removed_at is not None:
        abort(409)
    event = invitee.event
    language = current_language()
    seen, snapshot_ = current_answer(invitee.id)
    form_class = answer_form_class(event)
    status, meanwhile = 200, ""
    form = form_class() if request.method == "POST" else form_class(data=form_data(snapshot_, seen))
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            answer, problems = answer_from_form(event, form)
            problems = {**check_answer(event, answer, language), **problems}  # a time it could not read first
            if not problems:
                try:
                    with write_transaction():
                        result = save_answer(invitee, answer, actor=Actor.ADMIN, actor_name=current_user.username,
                                             seen=seen_on(form))
                        queue_answer_emails(invitee, result)
                except ChangedMeanwhile as changed:
                    seen, snapshot_ = current_answer(invitee.id)
                    form = form_class(formdata=None, data=form_data(snapshot_, seen))
                    status, meanwhile = 409, changed_meanwhile(changed.change, invitee, to_invitee=False)
                else:
                    flash(_("The answer is saved, and %(name)s gets a confirmation by email.", name=invitee.name)
                          if result.change is not None else _("Nothing changed."))
                    return redirect(url_for("admin.invitee", invitee_id=invitee.id))
            else:
                put_problems_on_form(form, problems)
    return render_template(
        "admin/answer_for.html", event=event, invitee=invitee, form=form, language=language,
        changed_meanwhile=meanwhile, **answer_form_context(invitee, event, snapshot_),
    ), status


def _act_on(invitee_id: int, change, message, listed_only: bool = True, ask=None):
    """Make one change to an invitee in its own transaction, say what was done (`message(invitee)`,
    then what `change` returns, if anything), and go back to their page. With `ask(invitee)`, the
    first POST only shows that question with a button that confirms (no script needed)."""
    invitee = _invitee_or_404(invitee_id)
    if listed_only and invitee.removed_at is not None:
        abort(409)
    if ask is not None and request.form.get("confirmed") != "yes":
        return render_template("admin/confirm.html", event=invitee.event, invitee=invitee, question=ask(invitee),
                               action=request.path)
    with write_transaction():
        more = change(invitee)
    flash(" ".join(filter(None, (message(invitee), more))))
    return redirect(url_for("admin.invitee", invitee_id=invitee.id))


def _moved_up_text(moved_up: list[ResponseChange]) -> str | None:
    if not moved_up:
        return None
    names = sorted({db.session.get(Invitee, change.invitee_id).name for change in moved_up}, key=sort_key)
    return _("Moved up from the waiting list: %(names)s.", names=", ".join(names))


@bp.get("/invitees/<int:invitee_id>/remove")
@bp.get("/invitees/<int:invitee_id>/restore")
@bp.get("/invitees/<int:invitee_id>/new-link")
@bp.get("/invitees/<int:invitee_id>/resend")
def invitee_action_again(invitee_id: int):
    """An action's address opened again (a reloaded confirmation): the invitee's page, with its
    buttons. Nothing changes."""
    return redirect(url_for("admin.invitee", invitee_id=_invitee_or_404(invitee_id).id))


@bp.post("/invitees/<int:invitee_id>/remove")
def remove_invitee(invitee_id: int):
    """Take the invitee off the list: their link stops working, the numbers no longer count them,
    and the seats and rooms they held go to the first on the waiting lists."""
    def remove(invitee: Invitee) -> str | None:
        moved_up = take_off_list(invitee)
        queue_moved_up_emails(moved_up)
        return _moved_up_text(moved_up)

    return _act_on(invitee_id, remove, lambda i: _("%(name)s is removed from the list.", name=i.name), listed_only=False,
                   ask=lambda i: _("Remove %(name)s from the list? Their link stops working, they leave the numbers, and "
                                   "any seat or room they hold goes to the first on the waiting list.", name=i.name))


@bp.post("/invitees/<int:invitee_id>/restore")
def restore_invitee(invitee_id: int):
    """Put a removed invitee back on the list; their link works again, and their answer counts
    again (on a waiting list where their seat or room was given away)."""
    def restore(invitee: Invitee) -> str | None:
        result = put_back_on_list(invitee)
        if result is None:
            return None
        queue_put_back_emails(invitee, result)
        waiting = None
        if result.change is not None:
            waiting = _("A seat or room they held was given away while they were removed: they are on its "
                        "waiting list, and an email tells them so.")
        return " ".join(filter(None, (waiting, _moved_up_text(result.moved_up)))) or None

    return _act_on(invitee_id, restore, lambda i: _("%(name)s is back on the list.", name=i.name), listed_only=False)


@bp.post("/invitees/<int:invitee_id>/new-link")
def new_link(invitee_id: int):
    """Revoke the invitee's link and send them the invitation with a new one."""
    def renew(invitee: Invitee) -> None:
        issue_new_link(invitee)
        queue_invitation(invitee)

    return _act_on(invitee_id, renew, lambda i: _(
        "The old link no longer works. %(name)s gets the invitation with a new link.", name=i.name),
        ask=lambda i: _("Make a new link for %(name)s? The link they have stops working, and the invitation goes to "
                        "%(email)s with the new one.", name=i.name, email=i.email))


class AddressForm(FlaskForm):
    email = StringField(_l("Email"), validators=[at_most(320)])
    #: Set by the confirmation step: the address was shown back and the secretariat said yes.
    confirmed = HiddenField()


@bp.route("/invitees/<int:invitee_id>/address", methods=["GET", "POST"])
def correct_address_of(invitee_id: int):
    """Correct an address that mail does not reach: once confirmed, the invitee is deliverable again,
    the old link stops working, and the invitation goes to the new address with a new link."""
    invitee = _invitee_or_404(invitee_id)
    if invitee.removed_at is not None:
        abort(409)
    form = AddressForm(data={"email": invitee.email} if request.method == "GET" else None)
    confirming = False
    if form.validate_on_submit():
        try:
            if form.confirmed.data == "yes":
                with write_transaction():
                    correct_address(invitee, form.email.data)
                    issue_new_link(invitee)
                    queue_invitation(invitee)
                flash(_("The address is now %(email)s. The old link no longer works; %(name)s gets the invitation "
                        "with a new link.", email=invitee.email, name=invitee.name))
                return redirect(url_for("admin.invitee", invitee_id=invitee.id))
            form.email.data = checked_address(invitee, form.email.data)
            form.confirmed.data = "yes"
            confirming = True
        except InviteeFileError as error:
            db.session.rollback()
            form.confirmed.data = ""
            form.email.errors = [problem.message_in(current_language()) for problem in error.errors]
    status = 400 if request.method == "POST" and not confirming else 200
    return render_template("admin/invitee_address.html", event=invitee.event, invitee=invitee, form=form,
                           confirming=confirming), status


@bp.post("/invitees/<int:invitee_id>/resend")
def resend_invitation(invitee_id: int):
    """Send the invitation again, with the link they have."""
    def resend(invitee: Invitee) -> None:
        queue_invitation(invitee, again=True)

    return _act_on(invitee_id, resend, lambda i: _("The invitation is on its way to %(email)s again.", email=i.email))
