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

#: Celery broker. Empty means the embedded broker: a folder of message files in the instance folder.
BROKER_URL = ""

#: Where Celery keeps task results (the health check reads one). Empty means a SQLite
#: file in the instance folder.
RESULT_BACKEND = ""

#: Redis for rate limits and the shared send-rate bucket. Empty means in-process memory.
REDIS_URL = ""

#: Public base URL used in links inside emails.
BASE_URL = "http://127.0.0.1:5000"

#: The SMTP relay. The embedded default is OSA's own mail catcher on port 1025.
SMTP_HOST = "127.0.0.1"
SMTP_PORT = 1025
SMTP_USERNAME = ""
SMTP_PASSWORD = ""
#: A command that prints an OAuth 2 access token: OSA then signs in as SMTP_USERNAME with XOAUTH2, as
#: Microsoft 365 requires once password sign-in (basic auth) is off, and Google Workspace allows.
SMTP_TOKEN_COMMAND = ""
#: STARTTLS after connecting (port 587, Microsoft 365, Google Workspace).
SMTP_STARTTLS = False
#: TLS from the start (port 465).
SMTP_SSL = False
#: PEM certificates to trust for the relay's TLS (empty: the system's); the relay's certificate and
#: name are always checked, so the sign-in never goes to a server that only claims to be the relay.
SMTP_CA_FILE = ""
#: Seconds to wait for the relay before giving up on an attempt.
SMTP_TIMEOUT = 30.0

#: Messages per minute, for all workers together; 0 means no limit. Microsoft 365 allows 30.
SEND_RATE_PER_MINUTE = 30
#: Recipients per rolling 24 hours, for all workers together (a relay blocks a mailbox that sends more);
#: 0 means no limit. Microsoft 365 allows 10,000.
SEND_DAILY_LIMIT = 10000
#: The share of SEND_DAILY_LIMIT that invitations and reminders leave to mail someone is waiting for
#: (confirmations, change notices, the day-before logistics), so a round never uses it up.
SEND_DAILY_RESERVE = 0.1
#: Messages sent over one SMTP connection by one task.
SEND_BATCH_SIZE = 50
#: Attempts before a message that keeps failing temporarily is marked failed.
SEND_MAX_ATTEMPTS = 8
#: The first retry waits this many seconds; each later one twice as long (with jitter), at most an hour.
SEND_RETRY_SECONDS = 30.0
#: The shortest time a worker holds the messages it claims before another may take them over: a batch
#: is held for what it needs at SEND_RATE_PER_MINUTE, and never less than this (three SMTP timeouts).
SEND_LEASE_SECONDS = 90
#: How often the sweeper looks for messages to send again, in seconds.
SWEEP_SECONDS = 15.0

#: The bounce mailbox, read over IMAP for delivery reports and auto-replies; empty: not read.
BOUNCE_IMAP_HOST = ""
BOUNCE_IMAP_PORT = 993
#: "ssl" (port 993), "starttls" (port 143) or "none" (a server on the same machine only).
BOUNCE_IMAP_TLS = "ssl"
BOUNCE_IMAP_USER = ""
BOUNCE_IMAP_PASSWORD = ""
#: A command that prints an OAuth 2 access token: OSA then signs in with XOAUTH2 instead of the password
#: (Microsoft 365 and Google Workspace accept no passwords over IMAP).
BOUNCE_IMAP_TOKEN_COMMAND = ""
#: Certificates to trust for the IMAP server (a file of PEM certificates); empty: the system's.
BOUNCE_IMAP_CA_FILE = ""
#: Where reports arrive, and where OSA moves each one it has read (it never deletes one).
BOUNCE_IMAP_FOLDER = "INBOX"
BOUNCE_IMAP_DONE_FOLDER = "OSA-read"
#: How often beat reads the bounce mailbox, in seconds.
BOUNCE_POLL_SECONDS = 300.0
#: The envelope sender of every email, with a signed tag per email after a "+" (VERP), where the relay
#: lets OSA set it (e.g. "osa-bounces@example.se"); empty: the From address, and reports are matched by
#: the Message-ID they return.
BOUNCE_ADDRESS = ""
#: Temporary failures (mailbox full, server away) that make an address undeliverable within so many days.
BOUNCE_SOFT_LIMIT = 3
BOUNCE_SOFT_DAYS = 7

#: Days after an event's last day until its sensitive details (allergies, diet notes, comments, flights),
#: then all its personal data (names, addresses, organisations), are removed; an event file may set its own.
RETENTION_SENSITIVE_DAYS = 14
RETENTION_PERSONAL_DAYS = 90
#: Before each removal, write an archive (XLSX of every answer with its history, the headcount, the hotel's
#: numbers) to RETENTION_ARCHIVE_DIR, for organisations that must keep records; a removal whose archive
#: cannot be written does not run.
RETENTION_ARCHIVE = False
#: Empty: the folder "archive" in the instance folder.
RETENTION_ARCHIVE_DIR = ""

#: Reminders to invitees who have not answered: days before the RSVP deadline, and the local hour.
REMINDER_DAYS = [7, 2]
REMINDER_HOUR = 9
#: A reminder due on a Saturday, a Sunday or a holiday of this country (ISO code; Midsummer Eve and
#: Christmas Eve count, as offices keep them) goes on the working day before. Empty: weekends only.
HOLIDAY_COUNTRY = "SE"
#: The day-before logistics go out at this local hour the day before each event day.
DAY_BEFORE_HOUR = 14
#: The daily headcount goes to the secretariat at this local hour.
REPORT_HOUR = 7
#: Whether the daily headcount also goes on Saturdays, Sundays and the holidays of HOLIDAY_COUNTRY.
#: False: on working days and the event's own days only, Monday's covering what changed since Friday's.
REPORT_ON_DAYS_OFF = True
#: The daily headcount attaches every answer as CSV while the list has at most this many invitees
#: (a file of about 4 MB); a larger one is linked to in the admin instead of filling the mailbox.
REPORT_ATTACHMENT_INVITEES = 20000
#: After the final numbers, changes go to the hotel at most once per this many minutes.
HOTEL_NOTICE_MINUTES = 60
#: A scheduled job that could not run on time (workers down) still runs this many hours late; later, it is missed.
JOB_GRACE_HOURS = 6

#: Requests per client address to all personal-link pages together (Flask-Limiter syntax). Answering is
#: about three (the page, the save, the thank-you page), and colleagues often share one address.
LINK_RATE_LIMIT = "180 per minute"
#: Sign-in attempts per client address to the admin (Flask-Limiter syntax).
LOGIN_RATE_LIMIT = "10 per minute"
#: Wrong passwords for one user name, from any address, before its sign-in waits (Flask-Limiter syntax).
LOGIN_ACCOUNT_RATE_LIMIT = "10 per hour"

#: The largest request body a page reads, in bytes (an answer form is a few kilobytes); more gets a 413 page.
MAX_FORM_BYTES = 65536
#: The largest invitee file the import takes, in megabytes (MiB): about 230,000 rows of CSV.
#: A larger upload is refused with a page that says so, unread.
MAX_UPLOAD_MB = 20

#: Log level of the application loggers.
LOG_LEVEL = "INFO"
#: "text" for people reading a terminal, "json" for one JSON object per line (for a log collector).
#: Either way, logs carry no personal data: no names, no addresses, no link tokens.
LOG_FORMAT = "text"

#: Where the app keeps its local files (the SQLite database, the embedded broker, the demo's mailbox). Empty means `instance/`
#: beside the code.
INSTANCE_PATH = ""
#: How many reverse proxies stand in front of the app (each adds X-Forwarded-For, -Proto,
#: -Host). 0 means none: the headers are ignored, as anyone could send them.
PROXY_COUNT = 0
#: The embedded default's mailbox: a folder where the built-in SMTP catcher keeps what it
#: receives, shown at /mailbox. Empty means no mailbox (it never runs in production).
MAILBOX_DIR = ""
