"""Entry point of the Celery worker and beat: `celery -A tasks.worker worker`."""

from service import create_app

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
