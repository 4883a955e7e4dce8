"""Health check that runs in a worker: proves the broker, the worker and the database work together."""

from __future__ import annotations

from celery import shared_task
from sqlalchemy import text

from service.extensions import db


@shared_task(name="osa.health.check_database", ignore_result=False)
def check_database() -> dict[str, str]:
    """Run a trivial query from inside a worker and report the database backend."""
    db.session.execute(text("SELECT 1")).scalar_one()
    return {"database": db.engine.dialect.name, "status": "ok"}
