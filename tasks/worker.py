"""Entry point of the Celery worker and beat: `celery -A tasks.worker worker`."""

from service import create_app
from service.settings import SettingsError
from service.web import terminal_language

try:
    flask_app = create_app()
except SettingsError as error:  # the message names the setting; a traceback would not say more
    raise SystemExit(error.in_language(terminal_language(), as_error=True)) from None
celery_app = flask_app.extensions["celery"]
