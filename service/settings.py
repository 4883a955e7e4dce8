"""Settings: the defaults in `config/defaults.py`, overridden by `OSA_*` environment variables.

One function, `load_settings`, turns the environment into a dict of typed
values. A variable that does not parse as its default's type is an error that
names the variable, so a typo in production fails at start and not at 3 a.m.; the
error speaks the terminal's language where `osa`, gunicorn or a worker shows it.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import holidays
import limits
from babel.support import Translations

from config import defaults

from .extensions import N_

#: The catalogues: Flask-Babel's for the app, `SettingsError`'s before the app exists, and Click's words in `osa`.
TRANSLATIONS = Path(__file__).parent / "translations"

PREFIX = "OSA_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """An `OSA_*` variable that is unknown or does not parse: in English as `str`, or in the reader's
    language (`in_language`: the settings are read before the app, and Flask-Babel, exist)."""

    def __init__(self, template: str, **params: str):
        self.template, self.params = template, params
        super().__init__(template % params)

    def in_language(self, language: str, as_error: bool = False) -> str:
        """The message in `language`; `as_error`: after 'Error:', as gunicorn and the workers stop with
        it (`osa` has Click's own)."""
        catalogue = Translations.load(TRANSLATIONS, [language])
        message = catalogue.gettext(self.template) % self.params
        return catalogue.gettext(N_("Error: %(message)s")) % {"message": message} if as_error else message


def default_settings() -> dict[str, Any]:
    """Every setting with its default value."""
    return {name: getattr(defaults, name) for name in dir(defaults) if name.isupper()}


def _coerce(name: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise SettingsError(N_("%(name)s: expected a boolean (true/false), got %(value)s"), name=PREFIX + name,
                            value=repr(raw))
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(N_("%(name)s: expected a whole number, got %(value)s"), name=PREFIX + name,
                                value=repr(raw)) from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise SettingsError(N_("%(name)s: expected a number, got %(value)s"), name=PREFIX + name,
                                value=repr(raw)) from None
    if isinstance(default, list):
        parts = [part.strip() for part in raw.split(",") if part.strip()]
        if default and isinstance(default[0], int):
            try:
                return [int(part) for part in parts]
            except ValueError:
                raise SettingsError(N_("%(name)s: expected whole numbers separated by commas, got %(value)s"),
                                    name=PREFIX + name, value=repr(raw)) from None
        return parts
    return raw


def load_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the settings: defaults overridden by `OSA_<NAME>` variables of `environ`."""
    environ = os.environ if environ is None else environ
    settings = default_settings()
    for key, raw in environ.items():
        if not key.startswith(PREFIX):
            continue
        name = key[len(PREFIX):]
        if name not in settings:
            raise SettingsError(N_("%(name)s: unknown setting (see the settings reference in README.md)"), name=key)
        settings[name] = _coerce(name, raw, settings[name])
    return settings


def check_rate_limits(settings: Mapping[str, Any]) -> None:
    """A rate limit that does not parse stops the start (else every page it guards would fail)."""
    for name in ("LINK_RATE_LIMIT", "LOGIN_RATE_LIMIT", "LOGIN_ACCOUNT_RATE_LIMIT"):
        try:
            limits.parse_many(settings[name])
        except ValueError:
            raise SettingsError(
                N_("%(name)s: expected a rate limit such as '180 per minute' or '10/minute; 100/hour', got %(value)s"),
                name=PREFIX + name, value=repr(settings[name])) from None


def check_holiday_country(settings: Mapping[str, Any]) -> None:
    """A country the holiday calendar does not know stops the start (else no reminder could be scheduled)."""
    country = settings["HOLIDAY_COUNTRY"]
    if country and country not in holidays.list_supported_countries():
        raise SettingsError(N_("%(name)s: expected a country's ISO code such as SE, NO or FI, or empty for weekends "
                               "only, got %(value)s"), name=PREFIX + "HOLIDAY_COUNTRY", value=repr(country))


def _on_this_machine(host: str) -> bool:
    """Whether the host is this machine (localhost, 127.0.0.1, ::1), where no one in between reads along."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_mail_settings(settings: Mapping[str, Any]) -> None:
    """A relay sign-in, bounce mailbox or return address that cannot work, or a sign-in that would go
    unencrypted to another machine, stops the start, naming the setting."""
    for name, library in (("SMTP_USERNAME", "smtplib"), ("SMTP_PASSWORD", "smtplib"),
                          ("BOUNCE_IMAP_USER", "imaplib"), ("BOUNCE_IMAP_PASSWORD", "imaplib")):
        if not str(settings[name]).isascii():  # the value may be a secret: never in the message
            raise SettingsError(N_("%(name)s: has letters outside ASCII (å, ä, ö …), which Python's %(library)s "
                                   "cannot send when it signs in; use one in ASCII letters"),
                                name=PREFIX + name, library=library)
    if settings["SMTP_STARTTLS"] and settings["SMTP_SSL"]:
        raise SettingsError(N_("%(name)s and %(other)s: set one (STARTTLS on port 587, or TLS from the start on port "
                               "465), not both"), name=PREFIX + "SMTP_STARTTLS", other=PREFIX + "SMTP_SSL")
    signs_in = settings["SMTP_TOKEN_COMMAND"] or (settings["SMTP_USERNAME"] and settings["SMTP_PASSWORD"])
    if signs_in and not (settings["SMTP_STARTTLS"] or settings["SMTP_SSL"]) and not _on_this_machine(settings["SMTP_HOST"]):
        raise SettingsError(N_("%(name)s: the sign-in would go unencrypted to %(host)s; set %(name)s=true (port 587) "
                               "or %(other)s=true (port 465)"), name=PREFIX + "SMTP_STARTTLS",
                            host=settings["SMTP_HOST"], other=PREFIX + "SMTP_SSL")
    if settings["BOUNCE_IMAP_TLS"] not in ("ssl", "starttls", "none"):
        raise SettingsError(N_("%(name)s: expected ssl, starttls or none, got %(value)s"),
                            name=PREFIX + "BOUNCE_IMAP_TLS", value=repr(settings["BOUNCE_IMAP_TLS"]))
    host = settings["BOUNCE_IMAP_HOST"]
    if host and settings["BOUNCE_IMAP_TLS"] == "none" and not _on_this_machine(host):
        raise SettingsError(N_("%(name)s: none would send the mailbox's sign-in unencrypted to %(host)s; it is for a "
                               "server on this machine (use ssl or starttls)"), name=PREFIX + "BOUNCE_IMAP_TLS", host=host)
    address = settings["BOUNCE_ADDRESS"]
    local, _, domain = str(address).rpartition("@")
    if address and (not local or not domain or "+" in local or any(c.isspace() or c in "<>\"," for c in address)
                    or not str(address).isascii()):  # the envelope sender of every email: SMTP takes ASCII
        raise SettingsError(N_("%(name)s: expected a bare address without a '+' tag, such as osa-bounces@example.se "
                               "(OSA adds the tag; a domain outside ASCII by its IDNA name, xn--…), got %(value)s"),
                            name=PREFIX + "BOUNCE_ADDRESS", value=repr(address))


def check_for_production(settings: Mapping[str, Any]) -> None:
    """Refuse the development key anywhere but the embedded default: it is public, in this repository."""
    uses_server = not str(settings["DATABASE_URL"]).startswith("sqlite")
    if uses_server and list(settings["SECRET_KEYS"]) == list(defaults.SECRET_KEYS):
        raise SettingsError(
            N_("%(name)s is the development key, which anyone can read in OSA's code; set it to a long random key "
               "before using a database server (see .env.example)"), name=PREFIX + "SECRET_KEYS")
