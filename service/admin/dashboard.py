"""The dashboard: the headcount as the answers stand now, refreshed while it is open."""

from __future__ import annotations

from flask import Response, abort, render_template, url_for

from ..db import utcnow
from ..headcount import headcount
from ..dates import format_date
from ..mail.compose import invitation_progress
from ..reports import answers_chart, answers_over_time
from ..web import CHART_POLICY, current_language
from . import admin_event, bp


def _numbers():
    event = admin_event()
    if event is None:
        return None
    language = current_language()
    days = answers_over_time(event, utcnow())[-14:]
    today = days[-1]
    return {"counts": headcount(event, language), "progress": invitation_progress(event),
            "over_time": [(format_date(day, language), coming, not_coming) for day, coming, not_coming in days],
            # The chart's address changes with what it shows, so a refresh of the numbers fetches it anew.
            "chart": url_for("admin.chart", day=today[0].isoformat(), coming=today[1], not_coming=today[2])}


@bp.get("/")
def dashboard():
    """Who comes, per day, meal, diet, transport, hotel night and role; who has not answered; the answers over time."""
    return render_template("admin/dashboard.html", numbers=_numbers())


@bp.get("/numbers")
def numbers():
    """The dashboard's numbers alone, for the page to refresh itself."""
    return render_template("admin/_numbers.html", numbers=_numbers())


@bp.get("/chart.svg")
def chart():
    """Answers over time, as the daily report lists them."""
    event = admin_event()
    if event is None:
        abort(404)
    return Response(answers_chart(event, utcnow(), current_language()), mimetype="image/svg+xml",
                    headers={"Content-Security-Policy": CHART_POLICY})
