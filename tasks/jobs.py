"""Scheduled jobs, run by beat every minute: reminders and the day-before logistics."""

from __future__ import annotations

from celery import shared_task

from service.jobs import run_due_jobs


@shared_task(name="osa.jobs.run_due", ignore_result=False)
def run_due() -> list:
    """Run every job whose time has come and that has not run."""
    return run_due_jobs()
