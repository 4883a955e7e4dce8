"""OAuth 2 access tokens for signing in with XOAUTH2, as Microsoft 365 and Google Workspace require
of the relay (OSA_SMTP_TOKEN_COMMAND) and the bounce mailbox (OSA_BOUNCE_IMAP_TOKEN_COMMAND). Each
token comes fresh from the deployment's own command, as mail programs get theirs: OSA holds no
client secret and refreshes nothing itself.
"""

from __future__ import annotations

import shlex
import subprocess

from flask import current_app
from flask_babel import gettext


class NoToken(Exception):
    """The token command gave no token. `detail` names the setting and why, in no language (for the
    outbox); the message says it in the language in force."""

    def __init__(self, setting: str, reason: str):
        self.detail = f"OSA_{setting}: {reason}"
        super().__init__(gettext("OSA_%(setting)s gave no token: %(error)s", setting=setting, error=reason))


def access_token(setting: str) -> str:
    """A fresh token from the command in the setting (`SMTP_TOKEN_COMMAND`, `BOUNCE_IMAP_TOKEN_COMMAND`)."""
    try:
        done = subprocess.run(shlex.split(current_app.config[setting]), capture_output=True, text=True, timeout=60,
                              check=True)
    except (OSError, ValueError, subprocess.SubprocessError) as error:
        raise NoToken(setting, type(error).__name__) from None
    return done.stdout.strip()


def xoauth2(user: str, token: str) -> str:
    """The XOAUTH2 sign-in (before base64) for the relay's AUTH; imapclient writes IMAP's itself."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"
