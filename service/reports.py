"""Files made from the answers: every answer as a table (the CSV attached to the daily report,
UTF-8 with a BOM so Excel shows å, ä, ö; the admin's CSV and XLSX downloads), and answers
over time (a table for the daily report, a PNG chart for the admin's dashboard).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

from flask_babel import force_locale
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import select

from .answers import localized
from .dates import format_clock, format_date, format_datetime
from .extensions import db
from .headcount import describe_change, headcount, invitees_with_answers
from .models import Event, Invitee, ResponseChange
from .text import cleaned


def answers_table(event: Event, language: str = "sv") -> tuple[list[str], list[list[str]]]:
    """Every invitee's answer, one row each: the header and the rows of the CSV and XLSX exports,
    each cell as a file may hold it (`text.cleaned`), whatever an old row holds."""
    with force_locale(language):
        header, rows = _answers_table(event, language)
    return header, [[cleaned(cell) for cell in row] for row in rows]


def _answers_table(event: Event, language: str) -> tuple[list[str], list[list[str]]]:
    rows: list[list[str]] = []
    header = [_("Name"), _("Email"), _("Organisation"), _("Role"), _("Language"), _("Answer")]
    for day in event.days:
        title = localized(day, "title", language)
        header += [title] + [_("%(day)s: %(column)s", day=title, column=column)
                             for column in (_("transport"), _("flight"), _("lands"))]
    header += [_("Meals"), _("Diet"), _("Allergies"), _("Hotel nights"), _("Comment")]
    for invitee in invitees_with_answers(event):
        response = invitee.response
        state = _("not answered") if response is None else (_("coming") if response.attending else _("not coming"))
        row = [invitee.name, invitee.email, invitee.organisation,
               localized(invitee.role, "name", language) if invitee.role else "", invitee.language, state]
        by_day = {d.day_id: d for d in response.days} if response else {}
        for day in event.days:
            answer = by_day.get(day.id)
            if answer is None:
                row += ["", "", "", ""]
                continue
            transport = localized(answer.transport_option, "name", language) if answer.transport_option else ""
            if answer.transport_waitlisted_at is not None:
                transport += " " + _("(waiting list)")
            row += [_("yes") if answer.attending else _("no"), transport, answer.flight_number,
                    format_clock(answer.flight_arrival, language)]
        if response is None:
            row += ["", "", "", "", ""]
        else:
            row += [
                "; ".join(localized(m, "name", language) + " " + format_date(m.day.date, language) for m in response.meals),
                "; ".join(localized(d, "name", language) for d in response.diets),
                response.allergies,
                "; ".join(format_date(n.hotel_night.night_of, language) for n in response.hotel_nights),
                response.comment,
            ]
        rows.append(row)
    return header, rows


def answers_csv(event: Event, language: str = "sv") -> str:
    """Every invitee's answer as CSV text that Swedish Excel opens as it is: a BOM (so å, ä, ö show)
    and semicolons (Excel in Swedish reads a comma as the decimal sign)."""
    header, rows = answers_table(event, language)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(header)
    writer.writerows([[_not_a_formula(cell) for cell in row] for row in rows])
    return "\ufeff" + out.getvalue()


def _not_a_formula(text: str) -> str:
    """Invitees write comments and allergies: a cell Excel would run as a formula gets a leading apostrophe."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def answers_over_time(event: Event, until: dt.datetime) -> list[tuple[dt.date, int, int]]:
    """(day, coming, not coming) for each day from the first answer to `until`, in the event's timezone."""
    tz = ZoneInfo(event.timezone)
    firsts = db.session.execute(
        select(ResponseChange.invitee_id, ResponseChange.changed_at, ResponseChange.new)
        .join(Invitee, Invitee.id == ResponseChange.invitee_id)
        .where(Invitee.event_id == event.id, ResponseChange.changed_at <= until)
        .order_by(ResponseChange.id)
    ).all()
    start = min((row.changed_at for row in firsts), default=until).astimezone(tz).date()
    end = until.astimezone(tz).date()
    latest: dict[int, bool] = {}
    days = []
    index = 0
    for day in (start + dt.timedelta(days=n) for n in range((end - start).days + 1)):
        while index < len(firsts) and firsts[index].changed_at.astimezone(tz).date() <= day:
            row = firsts[index]
            latest[row.invitee_id] = any(d["attending"] for d in row.new["days"].values())
            index += 1
        coming = sum(1 for v in latest.values() if v)
        days.append((day, coming, len(latest) - coming))
    return days


def answers_chart(event: Event, until: dt.datetime, language: str = "sv") -> bytes:
    """A PNG line chart for the admin's dashboard: how many have said they come, and how many not,
    day by day, with dated axes and a legend that gives today's values (a table beside it gives all)."""
    from PIL import Image, ImageDraw

    days = answers_over_time(event, until)
    coming = [day[1] for day in days]
    not_coming = [day[2] for day in days]

    width, height, left, right, top_margin, bottom = 600, 260, 44, 16, 34, 34
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    top = max([1, *coming, *not_coming])
    plot_bottom, plot_right = height - bottom, width - right
    draw.line([(left, top_margin), (left, plot_bottom), (plot_right, plot_bottom)], fill="#555555", width=1)
    for value in (0, top):  # the value axis: 0 and the highest count
        y = plot_bottom - (value / top) * (plot_bottom - top_margin)
        draw.line([(left - 4, y), (left, y)], fill="#555555")
        draw.text((left - 8, y), str(value), fill="#1d2327", anchor="rm")

    def x_of(index: int) -> float:
        return left + (index / max(1, len(days) - 1)) * (plot_right - left) if len(days) > 1 else (left + plot_right) / 2

    for values, colour in ((coming, "#2e7d32"), (not_coming, "#b3261e")):
        line = [(x_of(i), plot_bottom - (v / top) * (plot_bottom - top_margin)) for i, v in enumerate(values)]
        if len(line) > 1:
            draw.line(line, fill=colour, width=3)
        for x, y in line[-1:]:
            draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=colour)
    # The time axis: the first and the last day, dated.
    draw.text((x_of(0), plot_bottom + 8), format_date(days[0][0], language), fill="#1d2327",
              anchor="ma" if len(days) == 1 else "la")
    if len(days) > 1:
        draw.text((plot_right, plot_bottom + 8), format_date(days[-1][0], language), fill="#1d2327", anchor="ra")
    with force_locale(language):
        legend = [(_("coming: %(count)s", count=coming[-1]), "#2e7d32"),
                  (_("not coming: %(count)s", count=not_coming[-1]), "#b3261e")]
    x = left
    for text, colour in legend:
        draw.rectangle([x, 10, x + 12, 22], fill=colour)
        draw.text((x + 18, 16), text, fill="#1d2327", anchor="lm")
        x += 30 + int(draw.textlength(text))
    out = io.BytesIO()
    image.save(out, format="PNG")
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
        by = {"invitee": _("The invitee"), "admin": _("the secretariat"), "system": _("OSA (waiting list)")}
        rows = []
        query = (select(Invitee.name, Invitee.email, ResponseChange).join(Invitee, Invitee.id == ResponseChange.invitee_id)
                 .where(Invitee.event_id == event.id).order_by(ResponseChange.id))
        for name, email, change in db.session.execute(query):
            rows.append([name, email, format_datetime(change.changed_at, event.timezone, language),
                         " ".join(filter(None, (by.get(change.actor, change.actor), change.actor_name))),
                         describe_change(event, change.old, change.new, language)])
        history = (_("History"), header, [[cleaned(cell) for cell in row] for row in rows])
    return _workbook([_answers_sheet(event, language), history])


def _answers_sheet(event: Event, language: str) -> tuple[str, list[str], list[list[str]]]:
    header, rows = answers_table(event, language)
    with force_locale(language):
        return _("Answers"), header, rows


def _workbook(sheets: list[tuple[str, list[str], list[list[str]]]]) -> bytes:
    """Sheets with a bold, frozen header row each."""
    book = Workbook()
    book.remove(book.active)
    for title, header, rows in sheets:
        _fill(book.create_sheet(title), header, rows)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _fill(sheet, header: list[str], rows: list[list[str]]) -> None:
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    # openpyxl takes a text that starts with "=" for a formula; invitees' texts are never formulas.
    for line in sheet.iter_rows(min_row=2):
        for cell in line:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
    for index, title in enumerate(header, start=1):
        longest = max([len(title), *(len(row[index - 1]) for row in rows)])
        sheet.column_dimensions[get_column_letter(index)].width = min(60, longest + 2)
    sheet.freeze_panes = "B2"
