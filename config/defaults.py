"""Default settings for OSA.

Every upper-case name here is a setting. Each can be overridden by an
environment variable with the `OSA_` prefix (`OSA_DATABASE_URL=...`); the value
is read as the type of the default: lists are comma-separated, booleans accept
1/0, true/false, yes/no, on/off. The defaults run the embedded setup: SQLite in
the instance folder and no server to install.
"""

#: Keys that sign links and sessions. The first signs; all of them verify, so a
#: key can be rotated by putting a new one first and dropping the old one later.
SECRET_KEYS = ["osa-development-only-change-me"]

#: SQLAlchemy URL of the database. A relative SQLite path lives in the instance folder.
DATABASE_URL = "sqlite:///osa.sqlite3"

#: Celery broker. Empty means the embedded broker (a SQLite file in the instance folder).
BROKER_URL = ""

#: Where Celery keeps task results (the health check reads one). Empty means a SQLite
#: file in the instance folder.
RESULT_BACKEND = ""

#: Redis for rate limits and the shared send-rate bucket. Empty means in-process memory.
REDIS_URL = ""

#: Public base URL used in links inside emails.
BASE_URL = "http://127.0.0.1:5000"

#: Directory with event definition files.
EVENTS_DIR = ""

#: Requests per client address to personal-link pages (Flask-Limiter syntax).
LINK_RATE_LIMIT = "60 per minute"

#: Log level of the application loggers.
LOG_LEVEL = "INFO"
