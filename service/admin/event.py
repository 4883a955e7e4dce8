"""The event as loaded from its file; its schedule (reminders, logistics, reports, the hotel's numbers,
the removal of personal data: when, and what became of each); and its change log: each load that
changed what attendees see, the changes as they read them, how many each concerned, and whether
they were emailed."""

from __future__ import annotations

from flask import render_template
from sqlalchemy import select

from ..dates import format_datetime
from ..events import describe_event
from ..extensions import db
from ..jobs import schedule
from ..models import EventChange
from ..web import current_language
from . import bp
from .invitees import event_or_404


@bp.get("/event")
def event_page():
    """The programme as invitees get it, what OSA sends and does on its own and when, and every change
    a load of the file made to it."""
    event = event_or_404()
    language = current_language()
    loads = [
        {"at": format_datetime(entry.loaded_at, event.timezone, language), "notify": entry.notify,
         "notified": entry.notified,
         "lines": [(line.get(language) or line["sv"] or line["en"], line["people"]) for line in entry.lines]}
        for entry in db.session.scalars(
            select(EventChange).where(EventChange.event_id == event.id).order_by(EventChange.id.desc()))
    ]
    planned = [(format_datetime(row.at, event.timezone, language), row.name, row.state)
               for row in schedule(event, language, series=("hotel-changes", "daily-report"))]
    return render_template("admin/event.html", event=event, text=describe_event(event, language), loads=loads,
                           planned=planned)
