"""OSA's Flask application: `create_app` builds it from the settings.

Settings come from `config/defaults.py`, overridden by `OSA_*` environment
variables (see `service.settings`), then by `test_config` in tests.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask

from .db import render_item
from .extensions import db, migrate
from .extensions import (
    mail as mail_extension,  # not `mail`: that name is the service.mail package
)
from .settings import check_for_production, check_holiday_country, check_mail_settings, check_rate_limits, load_settings

MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")
BUNDLED_EVENTS_DIR = Path(__file__).resolve().parent.parent / "config" / "events"


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the OSA app. `test_config` overrides settings (upper-case names, as in defaults)."""
    settings = load_settings()
    if test_config:
        settings.update(test_config)
    check_for_production(settings)
    check_rate_limits(settings)
    check_holiday_country(settings)
    check_mail_settings(settings)
    app = Flask(__name__, instance_relative_config=True, instance_path=settings["INSTANCE_PATH"] or None)
    os.makedirs(app.instance_path, exist_ok=True)

    app.config.update(settings)
    app.config["SECRET_KEY"] = settings["SECRET_KEYS"][0]
    app.config["SQLALCHEMY_DATABASE_URI"] = settings["DATABASE_URL"]
    # An error's message names the statement, never the values in it (people's names and answers);
    # a pooled connection the database has dropped (a restart) is replaced before it is used.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"hide_parameters": True, "pool_pre_ping": True}
    broker_options: dict[str, Any] = {}
    if not settings["BROKER_URL"]:
        # The embedded broker: kombu's filesystem transport, one file per message, locked while read.
        queue = Path(app.instance_path) / "celery-queue"
        (queue / "processed").mkdir(parents=True, exist_ok=True)
        app.config["BROKER_URL"] = "filesystem://localhost/"
        # Every folder kombu uses lies in the instance (its control folder defaults to ./control).
        broker_options = {"data_folder_in": str(queue), "data_folder_out": str(queue),
                          "processed_folder": str(queue / "processed"), "store_processed": False,
                          "control_folder": str(queue / "control")}
    if not settings["RESULT_BACKEND"]:
        results_db = Path(app.instance_path) / "celery-results.sqlite3"
        app.config["RESULT_BACKEND"] = f"db+sqlite:///{results_db}"
    app.config["CELERY"] = {
        "broker_url": app.config["BROKER_URL"],
        "result_backend": app.config["RESULT_BACKEND"],
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        # A request that queues mail tries the broker twice, then leaves the rows to the sweeper.
        "task_publish_retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0.2,
                                      "interval_max": 0.2},
        "timezone": "UTC",
    }
    if app.config["BROKER_URL"].startswith(("redis://", "rediss://")):
        # Longer than any wait a message can meet (retries are scheduled in the outbox, not here).
        broker_options = {"visibility_timeout": 3 * 3600}
    app.config["CELERY"]["broker_transport_options"] = broker_options
    logging.getLogger("service").setLevel(settings["LOG_LEVEL"])
    if settings["LOG_FORMAT"] == "json":
        from .ops import use_json_logs

        use_json_logs()
        # Celery would set up its own text logging; the worker keeps ours.
        app.config["CELERY"]["worker_hijack_root_logger"] = False

    db.init_app(app)
    mail_extension.init_app(app)
    migrate.init_app(
        app, db, directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True, render_item=render_item
    )

    from tasks import celery_init_app

    celery_init_app(app)

    from .web import init_web

    init_web(app)
    from . import admin, errors, hotel, ops, rsvp

    app.register_blueprint(rsvp.bp)
    app.register_blueprint(hotel.bp)
    app.register_blueprint(ops.bp)
    if settings["MAILBOX_DIR"]:
        from .mail import mailbox

        app.register_blueprint(mailbox.bp)
    admin.init_app(app)
    errors.register(app)

    from . import cli

    cli.register(app)

    if settings["PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        count = int(settings["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count, x_port=count)
    return app
