"""Every Flask extension OSA uses, created here once and bound to the app by `create_app`; and `N_`,
which marks a text for Babel's catalogue."""

from __future__ import annotations

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

#: Constraint names the same on SQLite and PostgreSQL, so migrations can name them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
babel = Babel()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
#: Flask-Mail keeps the SMTP connection, opened from OSA's SMTP_* settings (`service.mail.delivery`).
mail = Mail()
migrate = Migrate()


def N_(text: str) -> str:
    """Mark an English text for Babel's catalogue (`pybabel extract -k N_`) where it cannot be translated
    yet, because no reader is known: it is translated where it is shown, in that reader's language."""
    return text
