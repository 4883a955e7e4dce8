"""Sending email: writing a round, the task that sends outbox rows, the sweeper beat runs, and the
bounce mailbox's poll."""

from __future__ import annotations

from celery import shared_task

from service.mail.bounce_mailbox import poll_bounce_mailbox
from service.mail.compose import write_round
from service.mail.delivery import deliver, requeue_stale
from tasks import worker_stopping


@shared_task(name="osa.mail.send_outbox", ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def send_outbox(ids: list[int]) -> dict[str, int]:
    """Send these outbox rows over one SMTP connection; a worker asked to stop gives back what is left."""
    return deliver(ids, stopping=worker_stopping)


@shared_task(name="osa.mail.requeue_stale", ignore_result=True)
def sweep_outbox() -> int:
    """Queue again rows whose task was lost or whose retry is due."""
    return requeue_stale()


@shared_task(name="osa.mail.poll_bounces", ignore_result=True)
def poll_bounces() -> dict[str, int]:
    """Read the bounce mailbox: delivery reports mark invitees undeliverable, auto-replies become notes."""
    return dict(poll_bounce_mailbox())


@shared_task(name="osa.invitations.write_round", ignore_result=True)
def write_invitation_round(event_id: int, only_new: bool = False) -> int:
    """Write the invitations of everyone without one for their current link (the admin's send page
    and `osa invitations send`)."""
    return write_round(event_id, only_new, stopping=worker_stopping)
