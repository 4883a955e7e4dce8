"""Personal data: when each removal runs and what it removes, postponing one with a reason,
erasure requests to confirm, and erasing a person."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired

from ..dates import format_date, format_datetime
from ..db import write_transaction
from ..extensions import db
from ..forms import at_most
from ..models import Invitee, JobRun, RetentionPostponement
from ..retention import STEPS, erase_invitee, postponement, removal_at
from ..web import current_language
from . import bp
from .invitees import _invitee_or_404, event_or_404


class PostponeForm(FlaskForm):
    #: Drawn as a list of the two steps.
    step = StringField(_l("Removal"), validators=[AnyOf(STEPS, message=_l("Choose one of the removals."))])
    until = DateField(_l("Not before"), validators=[DataRequired(_l("Give the day it may run at the earliest."))])
    reason = TextAreaField(_l("Why"), validators=[DataRequired(_l("Say why: the reason is kept.")), at_most(2000)])


def _steps(event, language: str) -> list[dict]:
    zone = ZoneInfo(event.timezone)
    runs = {run.job: run for run in db.session.scalars(select(JobRun).where(
        JobRun.event_id == event.id, JobRun.job.in_([f"remove-{step}" for step in STEPS])))}
    steps = []
    for step in STEPS:
        run = runs.get(f"remove-{step}")
        later = postponement(event, step)
        at = removal_at(event, step)
        steps.append({
            "step": step, "at": format_datetime(at, event.timezone, language),
            "ran": format_datetime(run.ran_at, event.timezone, language) if run else None,
            "archive": (run.numbers or {}) if run else {},
            "postponed": later and {"until": format_date(later.until, language), "reason": later.reason, "by": later.by},
            "due_day": at.astimezone(zone).date(),
        })
    return steps


@bp.route("/privacy", methods=["GET", "POST"])
def privacy():
    """When the event's personal data goes, what each step removes, and who asked to be erased."""
    event = event_or_404()
    language = current_language()
    form = PostponeForm()
    steps = _steps(event, language)
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            step = next(s for s in steps if s["step"] == form.step.data)
            if step["ran"]:
                form.step.errors.append(_("This removal has run; it cannot be postponed."))
            elif form.until.data <= step["due_day"]:
                form.until.errors.append(_("Choose a day after %(day)s, when it runs now.", day=format_date(step["due_day"], language)))
            else:
                with write_transaction():
                    event.retention_postponements.append(RetentionPostponement(
                        step=form.step.data, until=form.until.data, reason=form.reason.data.strip(),
                        by=current_user.username))
                flash(_("Postponed to %(day)s. The reason is kept.", day=format_date(form.until.data, language)))
                return redirect(url_for("admin.privacy"))
        status = 400
    requests = db.session.scalars(select(Invitee).where(
        Invitee.event_id == event.id, Invitee.erasure_requested_at.is_not(None), Invitee.erased_at.is_(None),
    ).order_by(Invitee.erasure_requested_at)).all()
    return render_template(
        "admin/privacy.html", event=event, steps=steps, form=form, language=language,
        requests=[(i, format_datetime(i.erasure_requested_at, event.timezone, language)) for i in requests],
        history=[(p, format_datetime(p.at, event.timezone, language), format_date(p.until, language))
                 for p in reversed(event.retention_postponements)],
    ), status


@bp.route("/invitees/<int:invitee_id>/erase", methods=["GET", "POST"])
def erase(invitee_id: int):
    """Erase a person now (their request, or the secretariat's decision), after asking once more."""
    invitee = _invitee_or_404(invitee_id)
    if invitee.erased_at is not None:
        abort(409)
    form = FlaskForm()
    if request.method == "POST" and form.validate_on_submit():
        name = invitee.name
        with write_transaction():
            erase_invitee(invitee)
        flash(_("%(name)s is erased: only the numbers remain.", name=name))
        return redirect(url_for("admin.invitee", invitee_id=invitee.id))
    return render_template("admin/erase.html", event=invitee.event, invitee=invitee, form=form)
