"""OSA's Celery app, made the Flask way: every task runs inside the app context.

`celery_init_app(app)` is called by `create_app`; the worker and beat start from
`tasks.worker`, which builds the Flask app. Tasks take ids, never ORM objects, and
the app puts them on the queue with `queue_task`. A long task asks `worker_stopping`
between steps, so a worker asked to stop (a deploy) ends it soon, not when killed.
"""

from __future__ import annotations

import logging
import multiprocessing

from celery import Celery, Task, signals
from celery.exceptions import TaskPredicate
from flask import Flask, current_app

log = logging.getLogger(__name__)

#: One byte the worker's main process sets when it is asked to stop. Made as the worker starts, before
#: its pool forks, so the pool's processes share it; set without a lock, as a signal handler must.
_stopping = None


@signals.worker_init.connect
def _share_stopping(**_) -> None:
    global _stopping
    _stopping = multiprocessing.RawValue("b", 0)


@signals.worker_shutting_down.connect
def _say_stopping(**_) -> None:
    if _stopping is not None:
        _stopping.value = 1


def worker_stopping() -> bool:
    """Whether the worker running this task has been asked to stop (a deploy, `docker compose stop`,
    Ctrl-C): it takes no more tasks, and waits for those running before it exits, or is killed."""
    return _stopping is not None and bool(_stopping.value)


def queue_task(name: str, *args) -> bool:
    """Put the task `name` on the workers' queue (after the caller's commit); False, logged, when the
    broker cannot be reached. Nothing is lost then: what the task is to do is in the database."""
    try:
        # No result is kept: without `ignore_result` Celery would first wait ~19 s for a Redis result
        # store that is down, and whoever just saved their answer would wait with it.
        current_app.extensions["celery"].send_task(name, args=list(args), ignore_result=True)
    except Exception as error:  # the broker is down
        log.warning("could not queue %s (%s)", name, type(error).__name__)
        return False
    return True


class TaskFailed(Exception):
    """A task's unexpected error as Celery logs it: its type alone, since its message may quote a
    value (a PostgreSQL error's DETAIL quotes the row); `log_unexpected` has logged where it happened."""


def celery_init_app(app: Flask) -> Celery:
    """Make the Celery app for `app`, configured from `app.config["CELERY"]`."""
    from service.ops import log_unexpected  # here: `service` imports this package as it loads

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                try:
                    return self.run(*args, **kwargs)
                except TaskPredicate:
                    raise  # Celery's own: retry, ignore, reject
                except Exception as error:
                    log_unexpected(log, f"task {self.name}", error)
                    raise TaskFailed(type(error).__name__) from None

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
