"""Invitee files uploaded in the admin: checked and imported by a worker, with progress."""

from __future__ import annotations

from celery import shared_task

from service.invitee_import import requeue_stale_imports, run_import_job


@shared_task(name="osa.invitees.import_file", ignore_result=True)
def import_file(job_id: int) -> None:
    """Check the uploaded file and import it, all or nothing."""
    run_import_job(job_id)


@shared_task(name="osa.invitees.requeue_stale", ignore_result=True)
def sweep_imports() -> int:
    """Queue again import jobs whose task or worker was lost."""
    return requeue_stale_imports()
