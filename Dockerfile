# OSA's image: the web app, the Celery worker and beat all run from it (see docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 OSA_INSTANCE_PATH=/tmp/osa
WORKDIR /app
COPY pyproject.toml README.md ./
COPY service service
COPY tasks tasks
COPY config config
COPY email_templates email_templates
RUN pip install --no-cache-dir . && useradd --create-home osa
USER osa
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "service.wsgi:app"]
