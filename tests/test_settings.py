"""Settings: defaults, overridden by OSA_* environment variables, with clear errors."""

import pytest

from service.settings import SettingsError, load_settings


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
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("x.sqlite3")
    assert app.config["BASE_URL"] == "https://osa.example.se"
    celery = app.extensions["celery"].conf
    assert celery.task_acks_late is True
    assert celery.task_reject_on_worker_lost is True
    assert celery.worker_prefetch_multiplier == 1
    # Longer than the longest retry delay, so Redis never hands a task to a second worker early.
    from service.outbox import MAX_RETRY_DELAY

    assert celery.broker_transport_options["visibility_timeout"] > MAX_RETRY_DELAY
