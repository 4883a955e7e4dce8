"""Sending and reading mail: the invitation round with its live progress, previews of
every kind of email, and the mail log of every outbox row with retries."""

from __future__ import annotations

from flask import (
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, or_, select

from ..dates import format_datetime
from ..extensions import db
from ..mail.compose import count_to_invite, invitation_progress, start_round
from ..mail.delivery import retry_failed, waiting_on_relay
from ..mail.outbox import row_problem
from ..mail.previews import KINDS, preview_email
from ..models import Invitee, Outbox, OutboxState
from ..text import cleaned
from ..web import LANGUAGES, as_row_id, current_language, email_in_frame
from . import bp
from .invitees import event_or_404, filter_conditions

#: Outbox states, in the order a message passes through them.
STATES = tuple(OutboxState)


def _chosen_invitee(event) -> Invitee | None:
    invitee_id = request.args.get("invitee", type=as_row_id)
    if invitee_id is None:
        return None
    invitee = db.session.get(Invitee, invitee_id)
    return invitee if invitee is not None and invitee.event_id == event.id else None


def _progress(event) -> dict:
    progress = invitation_progress(event)
    waiting = waiting_on_relay(event.id) if progress.pending else None
    done = progress.sent + progress.failed
    when = format_datetime(progress.done_at, event.timezone, current_language(), approximate=True) \
        if progress.done_at else ""
    return {
        "total": progress.total, "sent": progress.sent, "failed": progress.failed, "pending": progress.pending,
        "percent": 100 if progress.total == 0 else int(100 * done / progress.total),
        # At 30 a minute and 10,000 a day, a round of thousands takes hours or days: say when it ends.
        "done_at": _("At the pace the mail server allows, the round is done %(when)s.", when=when) if when else "",
        "waiting": _("Sending waits: %(problem)s.", problem=row_problem(waiting)) if waiting else "",
    }


@bp.get("/send")
def send():
    """Preview the real invitation for an invitee found by name or address (the first on the list
    by name when none is asked for), and send the round."""
    event = event_or_404()
    who = cleaned(request.args.get("who") or "").strip()
    chosen = _chosen_invitee(event) or db.session.scalar(select(Invitee).where(
        *filter_conditions(event, "", "", "", "", who)).order_by(Invitee.sort_name, Invitee.id).limit(1))
    preview = preview_email(event, "invitation", chosen.language, chosen) if chosen else None
    return render_template(
        "admin/send.html", event=event, who=who, chosen=chosen, preview=preview,
        to_invite=count_to_invite(event), progress=_progress(event),
    )


@bp.post("/send")
def send_round():
    """Have a worker write an invitation for everyone without one for their current link; workers send them."""
    event = event_or_404()
    waiting = count_to_invite(event)
    if not waiting:
        flash(_("Everyone has their invitation already."))
    elif start_round(event):
        flash(ngettext("%(num)d invitation is on its way.", "%(num)d invitations are on their way.", waiting))
    else:
        flash(_("The workers' queue cannot be reached, so the round has not started and nothing was sent. "
                "Try again in a minute."))
    return redirect(url_for("admin.send"))


@bp.get("/send/progress")
def send_progress():
    """How far the round has come, for the send page to show while it runs."""
    return jsonify(_progress(event_or_404()))


@bp.get("/previews")
def previews():
    """Every kind of email, in each language."""
    return render_template("admin/previews.html", event=event_or_404(), kinds=KINDS, languages=LANGUAGES)


def _preview_or_404(kind: str, language: str):
    event = event_or_404()
    if kind not in KINDS or language not in LANGUAGES:
        abort(404)
    try:
        return event, preview_email(event, kind, language, _chosen_invitee(event))
    finally:
        db.session.rollback()  # a preview reads only; drop anything it loaded


@bp.get("/previews/<kind>/<language>")
def preview(kind: str, language: str):
    """One email as it would be sent now: subject, text part, HTML part and attachments."""
    event, shown = _preview_or_404(kind, language)
    return render_template(
        "admin/preview.html", event=event, preview=shown, invitee_id=request.args.get("invitee", type=as_row_id),
    )


@bp.get("/previews/<kind>/<language>/html")
def preview_html(kind: str, language: str):
    """The HTML part alone, for the preview page's frame."""
    _, shown = _preview_or_404(kind, language)
    return email_in_frame(shown.html)


@bp.get("/mail")
def mail_log():
    """Every email OSA has written, newest first, with its state, attempts and last error."""
    event = event_or_404()
    state = request.args.get("state", "")
    kind = request.args.get("kind", "")
    query_text = cleaned(request.args.get("q") or "").strip()
    query = select(Outbox).where(Outbox.event_id == event.id).order_by(Outbox.id.desc()).limit(500)
    if state in STATES:
        query = query.where(Outbox.state == state)
    if kind in KINDS:
        query = query.where(Outbox.kind == kind)
    if query_text:
        like = f"%{query_text}%"
        query = query.where(or_(Outbox.recipient.ilike(like), Outbox.subject.ilike(like)))
    counts = dict(db.session.execute(
        select(Outbox.state, func.count()).where(Outbox.event_id == event.id).group_by(Outbox.state)
    ).all())
    rows = [(format_datetime(row.sent_at or row.created_at, event.timezone, current_language()), row)
            for row in db.session.scalars(query)]
    return render_template(
        "admin/mail.html", event=event, rows=rows, counts=counts, states=STATES, kinds=KINDS,
        filters={"state": state, "kind": kind, "q": query_text},
        progress=_progress(event),
    )


def _row_or_404(row_id: int, event) -> Outbox:
    row = db.session.get(Outbox, row_id)
    if row is None or row.event_id != event.id:
        abort(404)
    return row


@bp.get("/mail/<int:row_id>")
def mail_message(row_id: int):
    """One email exactly as written to the outbox."""
    event = event_or_404()
    row = _row_or_404(row_id, event)
    language = current_language()

    def when(instant) -> str:
        return format_datetime(instant, event.timezone, language) if instant else ""

    # A queued row that has been tried waits for its next attempt (the relay was out of reach, or said "later").
    retry = row.state == OutboxState.QUEUED and row.attempts > 0
    return render_template("admin/mail_message.html", event=event, row=row, created=when(row.created_at),
                           sent=when(row.sent_at), next_attempt=when(row.next_attempt_at) if retry else "",
                           language=language)


@bp.get("/mail/<int:row_id>/html")
def mail_message_html(row_id: int):
    """The HTML part of a written email, for the message page's frame."""
    return email_in_frame(_row_or_404(row_id, event_or_404()).body_html)


@bp.post("/mail/retry")
def mail_retry():
    """Send failed emails again: one (`id`) or every failed one of the event."""
    event = event_or_404()
    one = request.form.get("id", type=as_row_id)
    if one is not None:
        ids = [one]
    else:
        ids = list(db.session.scalars(select(Outbox.id).where(Outbox.event_id == event.id, Outbox.state == OutboxState.FAILED)))
    count = retry_failed(ids) if ids else 0
    flash(ngettext("%(num)d email is queued again.", "%(num)d emails are queued again.", count))
    back = request.form.get("back") or ""
    return redirect(back if back.startswith("/admin/") and "//" not in back else url_for("admin.mail_log"))
