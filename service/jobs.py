"""Scheduled jobs: reminders before the RSVP deadline and the day-before logistics.

Each job has due times computed from the event's local dates and the configured
local hour (so a job fires at 09.00 Stockholm time in October and in November
alike, across the change from summer time). Beat calls `run_due_jobs` every
minute. A due time runs at most once: its `JobRun` row is written in the same
transaction as the emails it queues, and a unique index makes a second beat, an
overlapping run or a retried task find it taken. A due time missed while the
workers were down runs once when they return, within `JOB_GRACE_HOURS` and
while it still matters (a reminder before the deadline, logistics before the
day begins); after that it is recorded as missed.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError

from .answers import describe_logistics, localized
from .dates import format_date, format_time
from .db import begin_write, db, utcnow
from .emails import render_email
from .headcount import answers_chart, answers_csv, changes_between, headcount
from .links import opt_out_url
from .models import Event, EventDay, Invitee, JobRun, Outbox, Response, ResponseDay
from .notifications import email_context
from .outbox import queue_email


@dataclass(frozen=True)
class Due:
    """One job at one time: what it is called, when it is due, until when it still matters."""

    job: str
    at: dt.datetime
    too_late_at: dt.datetime
    run: Callable[[Event, dt.datetime, bool], int]


def _local(day: dt.date, hour: int, timezone: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=ZoneInfo(timezone)).astimezone(dt.timezone.utc)


def due_times(event: Event) -> Iterator[Due]:
    """Every scheduled job of the event, in time order."""
    config = current_app.config
    deadline_day = event.rsvp_deadline.astimezone(ZoneInfo(event.timezone)).date()
    times = []
    for days in sorted(config["REMINDER_DAYS"], reverse=True):
        at = _local(deadline_day - dt.timedelta(days=days), int(config["REMINDER_HOUR"]), event.timezone)
        times.append(Due(f"reminder-{days}", at, event.rsvp_deadline, _reminders(days)))
    for day in event.days:
        at = _local(day.date - dt.timedelta(days=1), int(config["DAY_BEFORE_HOUR"]), event.timezone)
        starts = min(item.starts_at for item in day.items)
        times.append(Due(f"day-before-{day.key}", at, starts, _day_before(day.id)))
    # The daily report, every morning from the day the event was defined to its last day.
    zone = ZoneInfo(event.timezone)
    first = event.created_at.astimezone(zone).date()
    for offset in range((event.days[-1].date - first).days + 1):
        date = first + dt.timedelta(days=offset)
        at = _local(date, int(config["REPORT_HOUR"]), event.timezone)
        if at >= event.created_at:
            times.append(Due(f"daily-report-{date.isoformat()}", at, at + dt.timedelta(days=1), _daily_report))
    return iter(sorted(times, key=lambda due: due.at))


def run_due_jobs(now: dt.datetime | None = None, dry_run: bool = False, only: str | None = None) -> list[tuple[str, str, int]]:
    """Run every job that is due and has not run; return (job, "done" | "missed" | "would send", emails)."""
    now = now or utcnow()
    grace = dt.timedelta(hours=float(current_app.config["JOB_GRACE_HOURS"]))
    report = []
    for event in db.session.scalars(select(Event).order_by(Event.id)).all():
        for due in due_times(event):
            if due.at > now or (only and not due.job.startswith(only)):
                continue
            if db.session.scalar(select(JobRun.id).where(
                JobRun.job == due.job, JobRun.event_id == event.id, JobRun.scheduled_for == due.at
            )) is not None:
                continue
            if dry_run:
                report.append((due.job, "would send", due.run(event, due.at, True)))
                db.session.rollback()
                continue
            begin_write()
            late = now >= due.too_late_at or now - due.at > grace
            emails = 0 if late else due.run(event, due.at, False)
            db.session.add(JobRun(
                job=due.job, event_id=event.id, scheduled_for=due.at, state="missed" if late else "done", emails=emails,
            ))
            try:
                db.session.commit()
            except IntegrityError:
                db.session.rollback()  # another beat or worker ran it first: its emails stand, ours are gone
                continue
            report.append((due.job, "missed" if late else "done", emails))
    return report


def _reminders(days: int) -> Callable[[Event, dt.datetime, bool], int]:
    def run(event: Event, at: dt.datetime, dry_run: bool) -> int:
        """Remind those invited before this reminder's time who have not answered and not opted out."""
        invited = exists().where(
            Outbox.invitee_id == Invitee.id, Outbox.kind == "invitation", Outbox.created_at <= at
        )
        answered = exists().where(Response.invitee_id == Invitee.id)
        invitees = db.session.scalars(
            select(Invitee).where(
                Invitee.event_id == event.id, Invitee.removed_at.is_(None), Invitee.reminders_opted_out.is_(False),
                invited, ~answered,
            ).order_by(Invitee.id)
        ).all()
        if dry_run:
            return len(invitees)
        for invitee in invitees:
            rendered = render_email("reminder", invitee.language, opt_out=opt_out_url(invitee), **email_context(event, invitee))
            queue_email(kind="reminder", key=f"reminder-{days}:{invitee.id}", event=event, invitee=invitee,
                        recipient=invitee.email, language=invitee.language, rendered=rendered)
        return len(invitees)

    return run


def _day_before(day_id: int) -> Callable[[Event, dt.datetime, bool], int]:
    def run(event: Event, at: dt.datetime, dry_run: bool) -> int:
        """Tomorrow's logistics for everyone coming tomorrow, tailored to their transport and meals."""
        day = db.session.get(EventDay, day_id)
        invitees = db.session.scalars(
            select(Invitee).join(Response).join(ResponseDay)
            .where(ResponseDay.day_id == day.id, ResponseDay.attending.is_(True), Invitee.removed_at.is_(None))
            .order_by(Invitee.id)
        ).all()
        if dry_run:
            return len(invitees)
        for invitee in invitees:
            language = invitee.language
            role = invitee.role.key if invitee.role else None
            agenda = [
                {
                    "when": format_time(item.starts_at, event.timezone, language, item.approximate)
                    + (f"–{format_time(item.ends_at, event.timezone, language)}" if item.ends_at else ""),
                    "title": localized(item, "title", language),
                    "place": item.place,
                }
                for item in day.items
                if not item.role_keys or role is None or role in item.role_keys
            ]
            rendered = render_email(
                "day_before", language,
                day_heading=f"{localized(day, 'title', language)}, {format_date(day.date, language)}",
                logistics=describe_logistics(event, invitee.response, language, only_day=day),
                agenda=agenda,
                **email_context(event, invitee),
            )
            queue_email(kind="day_before", key=f"day-before-{day.key}:{invitee.id}", event=event, invitee=invitee,
                        recipient=invitee.email, language=language, rendered=rendered)
        return len(invitees)

    return run


def _daily_report(event: Event, at: dt.datetime, dry_run: bool) -> int:
    """The headcount to the secretariat: numbers, changes since the last report, CSV and chart."""
    if dry_run:
        return 1
    language = event.default_language
    previous = db.session.scalar(
        select(JobRun.scheduled_for)
        .where(JobRun.event_id == event.id, JobRun.job.like("daily-report-%"), JobRun.state == "done",
               JobRun.scheduled_for < at)
        .order_by(JobRun.scheduled_for.desc())
        .limit(1)
    )
    missed = db.session.scalar(
        select(func.count(JobRun.id)).where(
            JobRun.event_id == event.id, JobRun.state == "missed", JobRun.scheduled_for < at,
            ~JobRun.job.like("daily-report-%"),
            JobRun.ran_at > previous if previous is not None else JobRun.id.is_not(None),
        )
    )
    report_date = format_date(at.astimezone(ZoneInfo(event.timezone)).date(), language)
    chart_cid = f"chart-{at:%Y%m%d}@osa"
    rendered = render_email(
        "daily_report", language, event=event, report_date=report_date, counts=headcount(event, language),
        changes=changes_between(event, previous, at), missed=missed, chart_cid=chart_cid,
    )
    day = at.astimezone(ZoneInfo(event.timezone)).date().isoformat()
    attachments = [
        {"filename": f"{event.slug}-svar-{day}.csv", "content_type": "text/csv; charset=utf-8",
         "data": answers_csv(event, language)},
        {"filename": "svar-over-tid.png", "content_type": "image/png", "encoding": "base64",
         "data": base64.b64encode(answers_chart(event, at)).decode("ascii"), "content_id": chart_cid},
    ]
    queue_email(kind="daily_report", key=f"daily-report:{event.id}:{day}", event=event,
                recipient=event.secretariat_email, language=language, rendered=rendered, attachments=attachments)
    return 1
