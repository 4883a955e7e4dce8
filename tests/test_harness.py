"""The test harness itself talks to real servers: SMTP, Redis, a Celery worker, both databases."""

import smtplib
from email.message import EmailMessage

import pytest
import redis
from sqlalchemy import text

from service.extensions import db


def test_smtp_server_records_what_it_accepts_and_refuses_what_it_is_told(smtp):
    smtp.rejected_recipients["nobody@example.se"] = "550 5.1.1 No such user"
    message = EmailMessage()
    message["From"] = "osa@example.se"
    message["To"] = "anna@example.se"
    message["Subject"] = "Välkommen till Skellefteå"
    message.set_content("Hej Anna!")
    with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as connection:
        refused = connection.send_message(message, to_addrs=["anna@example.se", "nobody@example.se"])
    assert refused == {"nobody@example.se": (550, b"5.1.1 No such user")}
    assert smtp.recipients() == ["anna@example.se"]
    assert smtp.messages[0].message["Subject"] == "Välkommen till Skellefteå"


def test_redis_fixture_is_a_real_redis_on_its_own_database(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.set("osa:test", "ja")
    assert client.get("osa:test") == b"ja"
    assert client.connection_pool.connection_kwargs["db"] != 0
    client.close()


def test_a_real_worker_runs_a_task_against_the_test_database(app, celery_worker):
    from tasks.health import check_database

    result = check_database.delay().get(timeout=30)
    assert result == {"database": db.engine.dialect.name, "status": "ok"}


@pytest.mark.both_backends
def test_database_fixture_is_migrated(app):
    tables = set(db.session.execute(text(
        "SELECT name FROM sqlite_master WHERE type='table'"
        if db.engine.dialect.name == "sqlite"
        else "SELECT tablename FROM pg_tables WHERE schemaname='public'"
    )).scalars())
    assert {"event", "invitee", "response", "response_change", "outbox", "alembic_version"} <= tables
