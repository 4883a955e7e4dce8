"""Settings: defaults, overridden by OSA_* environment variables, with clear errors."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from service.settings import SettingsError, load_settings

from .conftest import ENGLISH_TERMINAL, SWEDISH_TERMINAL

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_run_the_embedded_setup():
    settings = load_settings({})
    assert settings["DATABASE_URL"].startswith("sqlite:///")
    assert settings["BROKER_URL"] == ""


def test_environment_overrides_with_the_defaults_types():
    settings = load_settings({
        "OSA_DATABASE_URL": "postgresql+psycopg://osa@db/osa",
        "OSA_SECRET_KEYS": "new-key, old-key",
        "PATH": "/usr/bin",
    })
    assert settings["DATABASE_URL"] == "postgresql+psycopg://osa@db/osa"
    assert settings["SECRET_KEYS"] == ["new-key", "old-key"]


def test_unknown_setting_is_an_error_naming_it():
    with pytest.raises(SettingsError, match="OSA_DATABASE_ULR: unknown setting"):
        load_settings({"OSA_DATABASE_ULR": "sqlite://"})


def test_app_uses_the_environment(monkeypatch, tmp_path):
    from service import create_app

    monkeypatch.setenv("OSA_DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite3'}")
    monkeypatch.setenv("OSA_BASE_URL", "https://osa.example.se")
    monkeypatch.setenv("OSA_BROKER_URL", "redis://127.0.0.1:6379/0")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("x.sqlite3")
    assert app.config["BASE_URL"] == "https://osa.example.se"
    celery = app.extensions["celery"].conf
    assert celery.task_acks_late is True
    assert celery.task_reject_on_worker_lost is True
    assert celery.worker_prefetch_multiplier == 1
    # Longer than the longest retry delay, so Redis never hands a task to a second worker early.
    from service.mail.delivery import MAX_RETRY_DELAY

    assert celery.broker_transport_options["visibility_timeout"] > MAX_RETRY_DELAY


def test_the_embedded_broker_is_a_folder_in_the_instance(monkeypatch, tmp_path):
    from service import create_app

    monkeypatch.setenv("OSA_INSTANCE_PATH", str(tmp_path))
    app = create_app()
    assert app.instance_path == str(tmp_path)
    assert app.config["BROKER_URL"].startswith("filesystem://")
    options = app.extensions["celery"].conf.broker_transport_options
    assert options["data_folder_in"] == options["data_folder_out"] == str(tmp_path / "celery-queue")
    assert (tmp_path / "celery-queue" / "processed").is_dir()
    assert options["control_folder"] == str(tmp_path / "celery-queue" / "control")  # not ./control
    assert app.config["SESSION_COOKIE_SECURE"] is False  # http://127.0.0.1: the browser would drop a Secure cookie


def test_the_development_key_is_refused_with_a_database_server(monkeypatch):
    from service import create_app

    monkeypatch.setenv("OSA_DATABASE_URL", "postgresql+psycopg://osa@db.example.org/osa")
    with pytest.raises(SettingsError, match="OSA_SECRET_KEYS is the development key"):
        create_app()
    monkeypatch.setenv("OSA_SECRET_KEYS", "a-long-random-production-key")
    assert create_app().config["SESSION_COOKIE_HTTPONLY"] is True


@pytest.mark.parametrize("command, status", [
    (["osa", "outbox", "list"], 1),
    (["osa"], 1),
    (["osa", "--help"], 1),
    (["gunicorn", "--bind", "127.0.0.1:0", "--workers", "1", "service.wsgi:app"], 4),  # gunicorn's "App failed to load"
    (["celery", "-A", "tasks.worker", "worker", "--pool", "solo"], 1),
    (["celery", "-A", "tasks.worker", "beat"], 1),
])
@pytest.mark.parametrize("terminal, says", [
    (ENGLISH_TERMINAL, "Error: OSA_SECRET_KEYS is the development key"),
    (SWEDISH_TERMINAL, "Fel: OSA_SECRET_KEYS är utvecklingsnyckeln"),
])
def test_every_program_names_a_setting_that_cannot_work_without_a_traceback(tmp_path, command, status, terminal, says):
    env = {key: value for key, value in os.environ.items() if not key.startswith("OSA_") and key not in terminal}
    env.update({key: value for key, value in terminal.items() if value is not None})
    env.update(OSA_DATABASE_URL="postgresql+psycopg://osa@db.example.org/osa", OSA_INSTANCE_PATH=str(tmp_path))
    done = subprocess.run([str(Path(sys.executable).parent / command[0]), *command[1:]], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == status and done.stdout == ""
    errors = [line for line in done.stderr.splitlines() if not line.startswith("[")]  # gunicorn's own log lines
    assert errors[0].startswith(says) and "Traceback" not in done.stderr


@pytest.mark.parametrize("name", ["LINK_RATE_LIMIT", "LOGIN_RATE_LIMIT", "LOGIN_ACCOUNT_RATE_LIMIT"])
def test_a_rate_limit_that_does_not_parse_stops_the_start(monkeypatch, name):
    from service import create_app

    monkeypatch.setenv(f"OSA_{name}", "sixty a minute")
    with pytest.raises(SettingsError, match=f"OSA_{name}: expected a rate limit such as '180 per minute'"):
        create_app()


def test_a_holiday_country_the_calendar_does_not_know_stops_the_start(monkeypatch):
    from service import create_app

    monkeypatch.setenv("OSA_HOLIDAY_COUNTRY", "Sverige")
    with pytest.raises(SettingsError, match="OSA_HOLIDAY_COUNTRY: expected a country's ISO code such as SE"):
        create_app()


@pytest.mark.parametrize("name, value, message", [
    ("BOUNCE_IMAP_TLS", "yes", "OSA_BOUNCE_IMAP_TLS: expected ssl, starttls or none, got 'yes'"),
    ("BOUNCE_ADDRESS", "osa+bounces@example.se", "OSA_BOUNCE_ADDRESS: expected a bare address without a '+' tag"),
    ("BOUNCE_ADDRESS", "OSA <osa@example.se>", "OSA_BOUNCE_ADDRESS: expected a bare address"),
    ("BOUNCE_ADDRESS", "osa-bounces", "OSA_BOUNCE_ADDRESS: expected a bare address"),
    ("BOUNCE_ADDRESS", "osa-bounces@håbo.se", "(OSA adds the tag; a domain outside ASCII by its IDNA name, xn--…)"),
    ("SMTP_PASSWORD", "Höstmöte-2021", "OSA_SMTP_PASSWORD: has letters outside ASCII (å, ä, ö …), which Python's "
                                       "smtplib cannot send when it signs in; use one in ASCII letters"),
    ("BOUNCE_IMAP_PASSWORD", "Höstmöte-2021", "OSA_BOUNCE_IMAP_PASSWORD: has letters outside ASCII (å, ä, ö …), "
                                              "which Python's imaplib cannot send when it signs in"),
])
def test_a_mail_setting_that_cannot_work_stops_the_start_without_showing_a_secret(monkeypatch, name, value, message):
    from service import create_app

    monkeypatch.setenv(f"OSA_{name}", value)
    with pytest.raises(SettingsError, match=re.escape(message)) as refused:
        create_app()
    assert "PASSWORD" not in name or value not in str(refused.value)


def test_a_sign_in_that_would_go_unencrypted_to_another_machine_stops_the_start(monkeypatch, tmp_path):
    from service import create_app

    monkeypatch.setenv("OSA_INSTANCE_PATH", str(tmp_path))
    for name, value in {"SMTP_HOST": "smtp.office365.com", "SMTP_USERNAME": "osa@example.se",
                        "SMTP_PASSWORD": "a-secret"}.items():
        monkeypatch.setenv(f"OSA_{name}", value)
    with pytest.raises(SettingsError) as refused:
        create_app()
    assert str(refused.value) == ("OSA_SMTP_STARTTLS: the sign-in would go unencrypted to smtp.office365.com; set "
                                  "OSA_SMTP_STARTTLS=true (port 587) or OSA_SMTP_SSL=true (port 465)")
    monkeypatch.setenv("OSA_SMTP_STARTTLS", "true")
    assert create_app().config["SMTP_STARTTLS"] is True
    monkeypatch.setenv("OSA_SMTP_SSL", "true")
    with pytest.raises(SettingsError, match="OSA_SMTP_STARTTLS and OSA_SMTP_SSL: set one"):
        create_app()
    monkeypatch.delenv("OSA_SMTP_SSL")
    monkeypatch.setenv("OSA_BOUNCE_IMAP_HOST", "outlook.office365.com")
    monkeypatch.setenv("OSA_BOUNCE_IMAP_TLS", "none")
    with pytest.raises(SettingsError, match="OSA_BOUNCE_IMAP_TLS: none would send the mailbox's sign-in unencrypted "
                                            "to outlook.office365.com; it is for a server on this machine"):
        create_app()
    monkeypatch.setenv("OSA_BOUNCE_IMAP_HOST", "127.0.0.1")  # a server on this machine: no one reads along
    assert create_app().config["BOUNCE_IMAP_TLS"] == "none"


def test_beat_reads_the_bounce_mailbox_only_when_one_is_set_up(monkeypatch, tmp_path):
    from service import create_app

    monkeypatch.setenv("OSA_DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert "poll-bounces" not in create_app().extensions["celery"].conf.beat_schedule
    monkeypatch.setenv("OSA_BOUNCE_IMAP_HOST", "outlook.office365.com")
    monkeypatch.setenv("OSA_BOUNCE_POLL_SECONDS", "120")
    schedule = create_app().extensions["celery"].conf.beat_schedule["poll-bounces"]
    assert schedule == {"task": "osa.mail.poll_bounces", "schedule": 120.0}


def test_production_behind_a_proxy_sees_the_clients_address_and_https(monkeypatch, tmp_path):
    from flask import request

    from service import create_app

    monkeypatch.setenv("OSA_DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite3'}")
    monkeypatch.setenv("OSA_BASE_URL", "https://osa.example.se")
    monkeypatch.setenv("OSA_PROXY_COUNT", "1")
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True and app.config["REMEMBER_COOKIE_SECURE"] is True

    @app.get("/whoami")
    def whoami():
        return f"{request.remote_addr} {request.scheme}"

    seen = app.test_client().get("/whoami", headers={"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"})
    assert seen.get_data(as_text=True) == "198.51.100.7 https"


def test_json_logs_are_one_object_per_line_without_tokens(monkeypatch, tmp_path):
    import json
    import logging

    from service.ops import JsonLines
    from service.web import RedactLinkTokens

    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '"GET /r/%s HTTP/1.1" 200', ("WzEsMV0.abc.def",), None)
    RedactLinkTokens().filter(record)
    line = JsonLines().format(record)
    entry = json.loads(line)
    assert "\n" not in line and entry["level"] == "INFO" and entry["logger"] == "werkzeug"
    assert entry["message"] == '"GET /r/[link] HTTP/1.1" 200'
