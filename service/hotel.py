"""The hotel's read-only page, behind its own signed link (`/hotel/<token>`): the
numbers as they stand, and what changed since the final numbers were sent.
The secretariat revokes the link from the admin; a revoked link gets the bad-link page.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy import select

from .answers import localized
from .dates import format_datetime
from .events import get_event
from .extensions import db
from .headcount import hotel_changes, hotel_numbers, labelled_hotel_numbers, rooming_list
from .jobs import numbers_sent_to_hotel
from .links import LinkError, resolve_hotel_token
from .models import JobRun
from .web import limit_link_pages, never_cached, set_language

bp = Blueprint("hotel", __name__, url_prefix="/hotel")
limit_link_pages(bp)


bp.after_request(never_cached)


@bp.errorhandler(LinkError)
def bad_link(error: LinkError):
    """The same friendly page an invitee's bad link gets, worded for the hotel."""
    set_language(request.args.get("lang"))
    status = {"invalid": 400, "revoked": 403}.get(error.kind, 410)
    return render_template("rsvp/bad_link.html", kind=error.kind, event=get_event(), for_hotel=True), status


@bp.get("/<token>")
def numbers(token: str):
    """People per day, meals per sitting with diets, allergies and rooms (with the rooming list where the
    event gives the hotel names), and the changes since the final numbers."""
    event = resolve_hotel_token(token)
    language = set_language(request.args.get("lang") or event.default_language)
    final = db.session.scalar(
        select(JobRun).where(JobRun.event_id == event.id, JobRun.job == "hotel-final", JobRun.numbers.is_not(None))
    )
    current = hotel_numbers(event)
    changes = hotel_changes(event, final.numbers, current, language) if final is not None else []
    last_sent = numbers_sent_to_hotel(event)
    return render_template(
        "hotel/numbers.html", event=event, numbers=labelled_hotel_numbers(event, current, language), changes=changes,
        final_sent=format_datetime(final.ran_at, event.timezone, language) if final else None,
        unsent=last_sent is not None and last_sent != current,
        language=language,
        # Names only where the event file gives the hotel names; never their email addresses.
        rooming_list=rooming_list(event, language, emails=False)[0] if event.hotel_names else None,
        place=f"{event.hotel_name}, {localized(event, 'hotel_address', language)}", page_title=event.hotel_name,
    )
