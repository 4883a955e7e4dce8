"""The web app as gunicorn serves it: `gunicorn service.wsgi:app`."""

from gunicorn.errors import AppImportError

from . import create_app
from .settings import SettingsError
from .web import terminal_language

try:
    app = create_app()
except SettingsError as error:
    # gunicorn then prints the one line that names the setting and stops, where it would print a
    # traceback and "Worker failed to boot".
    raise AppImportError(error.in_language(terminal_language(), as_error=True)) from None
