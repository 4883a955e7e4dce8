"""OSA's Celery app, made the Flask way: every task runs inside the app context.

`celery_init_app(app)` is called by `create_app`; the worker and beat start from
`tasks.worker`, which builds the Flask app. Tasks take ids, never ORM objects.
"""

from __future__ import annotations

from celery import Celery, Task
from flask import Flask


def celery_init_app(app: Flask) -> Celery:
    """Make the Celery app for `app`, configured from `app.config["CELERY"]`."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    # Import the task modules so the worker knows every task.
    for module in ("health", "mail", "jobs", "imports"):
        celery_app.autodiscover_tasks(["tasks"], related_name=module, force=True)
    celery_app.conf.beat_schedule = {
        "sweep-outbox": {"task": "osa.mail.requeue_stale", "schedule": float(app.config["SWEEP_SECONDS"])},
        "scheduled-jobs": {"task": "osa.jobs.run_due", "schedule": 60.0},
        "sweep-imports": {"task": "osa.invitees.requeue_stale", "schedule": 60.0},
    }
    if app.config["BOUNCE_IMAP_HOST"]:
        celery_app.conf.beat_schedule["poll-bounces"] = {
            "task": "osa.mail.poll_bounces", "schedule": float(app.config["BOUNCE_POLL_SECONDS"])}
    app.extensions["celery"] = celery_app
    return celery_app
