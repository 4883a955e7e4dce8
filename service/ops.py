"""What operations need from the app: `/healthz` for load balancers and orchestrators,
JSON-lines logging for log collectors, and one way to log an unexpected error.

`/healthz` answers 200 when the database answers a query, and 503 when it does
not: without it no page works. It says too whether the Celery broker accepts a
connection and, where OSA_REDIS_URL is set, whether that Redis answers. While
either does not (in production both are one Redis, which may restart), pages
keep working: answers are saved with their emails in the outbox, sent once the
broker is back, and rate limits count in memory. The status is then "degraded",
still 200, so a load balancer keeps sending people to the app. It names no
server, user or address, so it is safe to leave open.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import traceback

import redis
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from .extensions import db

bp = Blueprint("ops", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz():
    """{"status": "ok", "database": "ok", "broker": "ok"} with 200; "degraded" with 200 while only the
    broker or Redis is away; "failing" with 503 while the database is."""
    checks = {}
    try:
        db.session.execute(text("SELECT 1")).scalar_one()
        checks["database"] = "ok"
    except Exception as error:  # any failure of the database is a failed check, never a 500
        db.session.rollback()
        checks["database"] = "unreachable"
        log.warning("health check: database unreachable (%s)", type(error).__name__)
    try:
        with current_app.extensions["celery"].connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=3)
        checks["broker"] = "ok"
    except Exception as error:
        checks["broker"] = "unreachable"
        log.warning("health check: broker unreachable (%s)", type(error).__name__)
    if current_app.config["REDIS_URL"]:
        try:
            with redis.Redis.from_url(current_app.config["REDIS_URL"], socket_timeout=3) as client:
                client.ping()
            checks["redis"] = "ok"
        except redis.RedisError as error:
            checks["redis"] = "unreachable"
            log.warning("health check: redis unreachable (%s)", type(error).__name__)
    serving = checks["database"] == "ok"
    status = "failing" if not serving else "ok" if all(value == "ok" for value in checks.values()) else "degraded"
    response = jsonify(status=status, **checks)
    response.status_code = 200 if serving else 503
    response.headers["Cache-Control"] = "no-store"
    return response


class JsonLines(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def use_json_logs() -> None:
    """Write every log record (the app's, gunicorn's, Celery's) as JSON lines on stderr."""
    formatter = JsonLines()
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for name in ("", "gunicorn.error", "gunicorn.access", "celery", "celery.task"):
        for handler in logging.getLogger(name).handlers:
            handler.setFormatter(formatter)


def log_unexpected(logger: logging.Logger, during: str, error: BaseException) -> None:
    """Log an error nobody foresaw: its type, what OSA was doing, and where in the code it happened;
    never its message, which may quote a value (an address, a name, an answer)."""
    logger.error("unhandled %s in %s\n%s", type(error).__name__, during,
                 "".join(traceback.format_tb(error.__traceback__)).rstrip())
