"""Files made from the answers: every answer as a table (the CSV attached to the daily report,
UTF-8 with a BOM so Excel shows å, ä, ö; the admin's CSV and XLSX downloads), and answers
over time (a table for the daily report, a chart for the admin's dashboard).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select

from .answers import localized
from .dates import format_clock, format_date, format_datetime, format_short_date
from .db import among
from .extensions import db
from .headcount import describe_change, headcount
from .models import (
    Actor,
    Event,
    Invitee,
    Response,
    ResponseChange,
    ResponseDay,
    ResponseHotelNight,
    response_diet,
    response_meal,
)
from .text import cleaned


#: Invitees read at a time for the answer files: memory stays the same for 500 invitees or 50,000.
CHUNK = 2000
#: The media type of the Excel workbooks OSA writes.
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def answers_header(event: Event, language: str) -> list[str]:
    with force_locale(language):
        header = [_("Name"), _("Email"), _("Organisation"), _("Role"), _("Language"), _("Answer")]
        for day in event.days:
            title = localized(day, "title", language)
            header += [title] + [_("%(day)s: %(column)s", day=title, column=column)
                                 for column in (_("transport"), _("flight"), _("lands"))]
        header += [_("Meals"), _("Diet"), _("Allergies"), _("Hotel nights"), _("Comment")]
    return [cleaned(cell) for cell in header]


@dataclass(frozen=True)
class _Labels:
    """What an answer file writes for each of the event's ids and each state, in one language, cleaned."""

    language: str
    day_ids: list[int]
    words: dict[str, str]
    roles: dict[int, str]
    options: dict[int, str]
    meals: dict[int, str]
    diets: dict[int, str]
    nights: dict[int, str]


def answer_rows(event: Event, language: str) -> Iterator[list[str]]:
    """Every invitee's answer, one row each by name, as a file may hold each cell (`text.cleaned`),
    read from the database `CHUNK` invitees at a time. What it needs of the event is read now, so
    the rows can be streamed after the request's objects are gone."""
    with force_locale(language):
        words = {"none": _("not answered"), "coming": _("coming"), "not coming": _("not coming"), "yes": _("yes"),
                 "no": _("no"), "waiting": " " + _("(waiting list)")}

    def named(rows, text) -> dict[int, str]:
        return {row.id: cleaned(text(row)) for row in rows}

    labels = _Labels(
        language, [day.id for day in event.days], {key: cleaned(word) for key, word in words.items()},
        named(event.roles, lambda role: localized(role, "name", language)),
        named(event.transport_options, lambda option: localized(option, "name", language)),
        named(event.meals, lambda meal: localized(meal, "name", language) + " " + format_date(meal.day.date, language)),
        named(event.diet_options, lambda diet: localized(diet, "name", language)),
        named(event.hotel_nights, lambda night: format_date(night.night_of, language)),
    )
    ids = list(db.session.scalars(select(Invitee.id).where(Invitee.event_id == event.id, Invitee.removed_at.is_(None))
                                  .order_by(Invitee.sort_name, Invitee.id)))
    return _answer_rows(ids, labels)


def _answer_rows(ids: list[int], labels: _Labels) -> Iterator[list[str]]:
    words = labels.words
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        people = {row.id: row for row in db.session.execute(
            select(Invitee.id, Invitee.name, Invitee.email, Invitee.organisation, Invitee.role_id, Invitee.language,
                   Response.id.label("response_id"), Response.allergies, Response.comment)
            .outerjoin(Response, Response.invitee_id == Invitee.id).where(among(Invitee.id, chunk)))}
        answered = [row.response_id for row in people.values() if row.response_id is not None]
        days: dict[int, dict[int, Any]] = defaultdict(dict)
        for row in db.session.execute(
            select(ResponseDay.response_id, ResponseDay.day_id, ResponseDay.attending, ResponseDay.transport_option_id,
                   ResponseDay.transport_waitlisted_at, ResponseDay.flight_number, ResponseDay.flight_arrival)
            .where(among(ResponseDay.response_id, answered))
        ):
            days[row.response_id][row.day_id] = row
        chosen = _chosen(response_meal.c.meal_id, response_meal, answered, labels.meals)
        eats = _chosen(response_diet.c.diet_option_id, response_diet, answered, labels.diets)
        stays = _chosen(ResponseHotelNight.hotel_night_id, ResponseHotelNight.__table__, answered, labels.nights)
        for invitee_id in chunk:
            person = people[invitee_id]
            by_day = days.get(person.response_id, {})
            state = words["none"] if person.response_id is None else \
                words["coming"] if any(day.attending for day in by_day.values()) else words["not coming"]
            # What people wrote is cleaned here; the labels were cleaned once.
            row = [cleaned(person.name), cleaned(person.email), cleaned(person.organisation),
                   labels.roles.get(person.role_id, ""), person.language, state]
            for day_id in labels.day_ids:
                answer = by_day.get(day_id)
                if answer is None:
                    row += ["", "", "", ""]
                    continue
                transport = labels.options.get(answer.transport_option_id, "")
                if answer.transport_waitlisted_at is not None:
                    transport += words["waiting"]
                row += [words["yes"] if answer.attending else words["no"], transport, cleaned(answer.flight_number),
                        format_clock(answer.flight_arrival, labels.language)]
            if person.response_id is None:
                row += ["", "", "", "", ""]
            else:
                response_id = person.response_id
                row += ["; ".join(chosen[response_id]), "; ".join(eats[response_id]), cleaned(person.allergies),
                        "; ".join(stays[response_id]), cleaned(person.comment)]
            yield row


def _chosen(column, table, answered: list[int], labels: dict[int, str]) -> dict[int, list[str]]:
    """For each answer, the labels of what it chose (meals, diets or nights), in the event's order."""
    order = {key: index for index, key in enumerate(labels)}
    picked: dict[int, list[int]] = defaultdict(list)
    for response_id, key in db.session.execute(select(table.c.response_id, column).where(among(table.c.response_id, answered))):
        picked[response_id].append(key)
    return defaultdict(list, {response_id: [labels[key] for key in sorted(keys, key=lambda k: order.get(k, len(order)))
                                            if key in labels] for response_id, keys in picked.items()})


def csv_lines(event: Event, language: str = "sv") -> Iterator[str]:
    """Every invitee's answer as CSV text that Swedish Excel opens as it is: a BOM (so å, ä, ö show)
    and semicolons (Excel in Swedish reads a comma as the decimal sign); a chunk of rows at a time."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    out.write("\ufeff")
    writer.writerow(answers_header(event, language))
    return _csv_chunks(out, writer, answer_rows(event, language))


def _csv_chunks(out: io.StringIO, writer, rows: Iterator[list[str]]) -> Iterator[str]:
    for count, row in enumerate(rows, start=1):
        writer.writerow([_not_a_formula(cell) for cell in row])
        if count % CHUNK == 0:
            yield _taken(out)
    yield _taken(out)


def _taken(out: io.StringIO) -> str:
    text = out.getvalue()
    out.seek(0)
    out.truncate()
    return text


def answers_csv(event: Event, language: str = "sv") -> str:
    """`csv_lines` as one text (the daily report's attachment)."""
    return "".join(csv_lines(event, language))


def _not_a_formula(text: str) -> str:
    """Invitees write comments and allergies: a cell Excel would run as a formula gets a leading apostrophe."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def answers_over_time(event: Event, until: dt.datetime) -> list[tuple[dt.date, int, int]]:
    """(day, coming, not coming) for each day from the first answer to `until`, in the event's timezone.
    The change log is read in order, `CHUNK` rows at a time, by whether each answer comes (not the
    answers themselves); what stays is whether each invitee comes."""
    tz = ZoneInfo(event.timezone)
    of_the_event = (Invitee.event_id == event.id, ResponseChange.changed_at <= until)
    first = db.session.scalar(select(func.min(ResponseChange.changed_at))
                              .join(Invitee, Invitee.id == ResponseChange.invitee_id).where(*of_the_event))
    start, end = (first or until).astimezone(tz).date(), until.astimezone(tz).date()
    changes = db.session.execute(
        select(ResponseChange.invitee_id, ResponseChange.changed_at, ResponseChange.coming)
        .join(Invitee, Invitee.id == ResponseChange.invitee_id).where(*of_the_event)
        .order_by(ResponseChange.id).execution_options(yield_per=CHUNK)
    )
    latest: dict[int, bool] = {}
    coming = 0
    days = []
    change = next(changes, None)
    for day in (start + dt.timedelta(days=n) for n in range((end - start).days + 1)):
        midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz)
        while change is not None and change.changed_at < midnight:
            coming += change.coming - latest.get(change.invitee_id, False)
            latest[change.invitee_id] = change.coming
            change = next(changes, None)
        days.append((day, coming, len(latest) - coming))
    changes.close()
    return days


def answers_chart(event: Event, until: dt.datetime, language: str = "sv") -> bytes:
    """An SVG line chart for the admin's dashboard: how many have said they come, and how many not,
    day by day since the first answer, with a legend that gives today's values. Its words are text
    the browser sets in its own font, so every letter shows and they stay sharp when zoomed."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    days = answers_over_time(event, until)
    dates = [day[0] for day in days]
    figure = Figure(figsize=(6, 2.6), layout="constrained")
    axes = figure.add_subplot()
    coming, not_coming = [day[1] for day in days], [day[2] for day in days]
    with force_locale(language):
        lines = ((_("coming: %(count)s", count=coming[-1]), coming, "#2e7d32"),
                 (_("not coming: %(count)s", count=not_coming[-1]), not_coming, "#b3261e"))
    for label, values, colour in lines:
        axes.plot(dates, values, color=colour, linewidth=2.5, marker="o", markevery=[-1], label=label)
    axes.set_ylim(0, max(1, *coming, *not_coming) * 1.05)  # 0 to 1 before anyone has answered
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    ticks = dates[::-(-len(dates) // 6)]  # at most six days named, the first among them
    axes.set_xticks(ticks, [format_short_date(day, language) for day in ticks])
    axes.spines[["top", "right"]].set_visible(False)
    figure.legend(loc="outside upper left", ncols=2, frameon=False)
    out = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


def headcount_csv(event: Event, language: str = "sv") -> str:
    """The numbers, one per line (what, of what, count), as CSV for Excel: no person in it."""
    counts = headcount(event, language)
    with force_locale(language):
        lines = [[_("Answers"), _("Invited"), counts.invited], [_("Answers"), _("Coming"), counts.attending],
                 [_("Answers"), _("Not coming"), counts.declined], [_("Answers"), _("Not answered"), counts.no_answer]]
        lines += [[_("Days"), label, coming] for label, coming, _not_coming in counts.days]
        lines += [[_("Meals"), label, count] for label, count, _diets in counts.meals]
        lines += [[_("Diets"), label, count] for label, count in counts.diets]
        lines += [[_("Transport"), label, taken] for label, taken, _waiting, _capacity in counts.transport]
        lines += [[_("Hotel nights"), label, taken] for label, taken, _waiting, _capacity in counts.nights]
        lines += [[_("Roles (coming / invited)"), name, f"{coming} / {invited}"] for name, coming, invited in counts.roles]
        header = [_("What"), _("Of what"), _("Count")]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(header)
    writer.writerows([[cleaned(str(cell)) for cell in line] for line in lines])
    return "\ufeff" + out.getvalue()


def answers_workbook(event, language: str) -> bytes:
    """Every answer as an Excel workbook: a bold, frozen header row and one row per invitee."""
    return _workbook([_answers_sheet(event, language)])


def archive_workbook(event: Event, language: str) -> bytes:
    """Every answer, and every change to every answer (when, by whom, before and after), for the archive."""
    with force_locale(language):
        header = [_("Name"), _("Email"), _("When"), _("By"), _("What")]
        by = {Actor.INVITEE: _("The invitee"), Actor.ADMIN: _("the secretariat"), Actor.SYSTEM: _("OSA (waiting list)")}
        rows = []
        query = (select(Invitee.name, Invitee.email, ResponseChange).join(Invitee, Invitee.id == ResponseChange.invitee_id)
                 .where(Invitee.event_id == event.id).order_by(ResponseChange.id))
        for name, email, change in db.session.execute(query):
            rows.append([name, email, format_datetime(change.changed_at, event.timezone, language),
                         " ".join(filter(None, (by.get(change.actor, change.actor), change.actor_name))),
                         describe_change(event, change.old, change.new, language)])
        history = (_("History"), header, [[cleaned(cell) for cell in row] for row in rows])
    return _workbook([_answers_sheet(event, language), history])


def list_workbook(sheets: list[tuple[str, list[str], list[list[str]]]]) -> bytes:
    """A printable list (and its waiting list) as an Excel workbook, a sheet each, to send on: the
    rooming list to the hotel, the passenger list to the bus company."""
    return _workbook([(title, header, [[cleaned(cell) for cell in row] for row in rows]) for title, header, rows in sheets])


def _answers_sheet(event: Event, language: str) -> tuple[str, list[str], Iterator[list[str]]]:
    with force_locale(language):
        title = _("Answers")
    return title, answers_header(event, language), answer_rows(event, language)


def _workbook(sheets: list[tuple[str, list[str], Iterable[list[str]]]]) -> bytes:
    """Sheets with a bold, frozen header row each, written row by row (openpyxl's write-only mode)."""
    # Imported here, as matplotlib is for the chart: openpyxl loads numpy when it is installed, and a
    # process that writes no workbook (most workers, most web requests) starts about 18 MB smaller.
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for title, header, rows in sheets:
        _fill(book.create_sheet(title), header, iter(rows))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _fill(sheet, header: list[str], rows: Iterator[list[str]]) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    def text_cell(value: str):
        # openpyxl takes a text that starts with "=" for a formula; invitees' texts are never formulas.
        if isinstance(value, str) and value.startswith("="):
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"
            return cell
        return value

    # A write-only sheet takes its column widths first: they are guessed from the first rows.
    first = list(itertools.islice(rows, CHUNK))
    for index, title in enumerate(header, start=1):
        longest = max([len(title), *(len(row[index - 1]) for row in first)])
        sheet.column_dimensions[get_column_letter(index)].width = min(60, longest + 2)
    sheet.freeze_panes = "B2"
    bold = []
    for title in header:
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = Font(bold=True)
        bold.append(cell)
    sheet.append(bold)
    for row in itertools.chain(first, rows):
        sheet.append([text_cell(value) for value in row])
