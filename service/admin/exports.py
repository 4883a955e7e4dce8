"""Exports and lists: every answer as CSV or XLSX; printable lists, each also as XLSX, per day (to
tick at the door), meal and transport (the bus passengers; the airport pickup with flights), and the
hotel's rooming list; and the hotel's link."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from ..answers import day_heading, localized
from ..dates import format_date, format_time
from ..db import write_transaction
from ..headcount import attendees, meal_guests, passengers, rooming_list
from ..links import hotel_url, revoke_hotel_links
from ..reports import XLSX_TYPE, answers_workbook, csv_lines, headcount_csv, list_workbook
from ..web import current_language
from . import bp
from .invitees import event_or_404


def _download(data, filename: str, mimetype: str) -> Response:
    """`data` (bytes, text, or an iterator of bytes that is streamed) as a file to save."""
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _list(event, name: str, columns: list[str], people: list[list[str]], waiting: list[list[str]] = (), **page):
    """A printable list's page or, with `?format=xlsx`, the same list as an Excel workbook named
    `name` (its waiting list on a sheet of its own), for the hotel, the kitchen or the bus company."""
    if request.args.get("format") == "xlsx":
        sheets = [(_("List"), columns, people)] + ([(_("Waiting list"), columns, waiting)] if waiting else [])
        return _download(list_workbook(sheets), f"{event.slug}-{name}.xlsx", XLSX_TYPE)
    return render_template("admin/list.html", event=event, columns=columns, people=people, waiting=waiting, **page)


@bp.get("/export/answers.csv")
def answers_csv_export():
    """Every answer as CSV, as Swedish Excel opens it (UTF-8 with BOM, semicolons), streamed as it is read:
    the daily report's attachment."""
    event = event_or_404()
    lines = csv_lines(event, current_language())
    return _download(stream_with_context(line.encode("utf-8") for line in lines), f"{event.slug}-{_('answers')}.csv",
                     "text/csv; charset=utf-8")


@bp.get("/export/answers.xlsx")
def answers_xlsx_export():
    """Every answer as an Excel workbook."""
    event = event_or_404()
    return _download(answers_workbook(event, current_language()), f"{event.slug}-{_('answers')}.xlsx", XLSX_TYPE)


@bp.get("/export/counts.csv")
def counts_csv_export():
    """The numbers per day, meal, diet, transport, night and role, with no person in them: what stays
    the same after the personal data is removed."""
    event = event_or_404()
    return _download(headcount_csv(event, current_language()).encode("utf-8"), f"{event.slug}-{_('counts')}.csv",
                     "text/csv; charset=utf-8")


@bp.get("/lists")
def lists():
    """The printable lists: one per day, meal and transport option, and the rooming list."""
    event = event_or_404()
    language = current_language()
    days = [(day.key, day_heading(day, language)) for day in event.days]
    return render_template("admin/lists.html", event=event, days=days)


def _by_key(rows, key: str):
    found = next((row for row in rows if row.key == key), None)
    if found is None:
        abort(404)
    return found


@bp.get("/lists/day/<key>")
def day_list(key: str):
    """Who comes on this day, with organisation and role: the list to tick at the door."""
    event = event_or_404()
    language = current_language()
    day = _by_key(event.days, key)
    return _list(
        event, day.key, [_("Name"), _("Organisation"), _("Role")], attendees(event, day, language),
        title=_("Attendees, %(day)s", day=localized(day, "title", language)), place=format_date(day.date, language),
    )


@bp.get("/lists/meal/<key>")
def meal_list(key: str):
    """Who eats at this meal, with diets and allergies: for the kitchen."""
    event = event_or_404()
    language = current_language()
    meal = _by_key(event.meals, key)
    people = meal_guests(event, meal, language)
    title = f"{localized(meal, 'name', language)}, {format_date(meal.day.date, language)} " \
            f"{format_time(meal.starts_at, event.timezone, language)}"
    return _list(
        event, meal.key, [_("Name"), _("Organisation"), _("Diet"), _("Allergies or other needs")], people,
        title=title, place=localized(meal, "place", language),
    )


@bp.get("/lists/transport/<key>")
def transport_list(key: str):
    """Who travels with this option: the bus passenger list, or the pickup list with flights."""
    event = event_or_404()
    language = current_language()
    option = _by_key(event.transport_options, key)
    people, waiting = passengers(event, option, language)
    columns = [_("Name"), _("Organisation"), _("Email")]
    if option.asks_flight:
        columns += [_("Flight"), _("Lands at")]
    title = f"{localized(option, 'name', language)}: " \
            f"{format_time(option.departs_at, event.timezone, language, option.approximate)}, " \
            f"{localized(option, 'place', language)}"
    places = ngettext("%(num)d seat", "%(num)d seats", option.capacity) if option.capacity else ""
    return _list(event, option.key, columns, people, waiting, title=title, place=format_date(option.day.date, language),
                 places=places)


@bp.get("/lists/rooms")
def rooms_list():
    """Who stays at the hotel from which night to which, and who waits for a room: the rooming list."""
    event = event_or_404()
    people, waiting = rooming_list(event, current_language())
    return _list(
        event, _("rooming-list"), [_("Name"), _("Organisation"), _("Email"), _("Arrives"), _("Departs"), _("Nights")],
        people, waiting, title=_("Rooming list"), place=event.hotel_name,
        count=len({email for _name, _organisation, email, *_stay in people}),  # a stay a row; a night's gap makes two
    )


@bp.get("/hotel")
def hotel_link():
    """The hotel's read-only link, and the way to revoke it."""
    event = event_or_404()
    return render_template("admin/hotel_link.html", event=event, link=hotel_url(event))


@bp.post("/hotel/revoke")
def revoke_hotel_link():
    """Stop the hotel's link from working; the page then shows the new one to give them."""
    event = event_or_404()
    with write_transaction():
        revoke_hotel_links(event)
    flash(_("The old hotel link no longer works. Give the hotel the new link below."))
    return redirect(url_for("admin.hotel_link"))
