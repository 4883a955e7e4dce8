"""A real SMTP server for tests: aiosmtpd in a thread of the test process.

It records every accepted message with its envelope and the time it arrived,
and can be told to answer some attempts with an error (a 421 while "down", a
550 for one recipient or for the sender, a 535 for a wrong password), to take its time over each message, or to hold its reply
to one message until released (a sender that dies at the instant the relay
accepted its message), to test how OSA's sending copes.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import ssl
import threading
import time
from dataclasses import dataclass

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class ReceivedMessage:
    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage
    received_at: float


class _Handler:
    def __init__(self, server: RecordingSMTPServer):
        self.server = server

    async def auth_XOAUTH2(self, smtp_server, args):
        """Microsoft 365's sign-in without a password: `user=…^Aauth=Bearer <token>^A^A`, in base64."""
        given = base64.b64decode(args[1]).decode() if len(args) > 1 else ""
        fields = dict(part.split("=", 1) for part in given.split("\x01") if "=" in part)
        token = fields.get("auth", "").removeprefix("Bearer ")
        if self.server.token is None or token != self.server.token:
            return AuthResult(success=False, handled=False)
        self.server.sign_ins.append(f"{fields.get('user')} (XOAUTH2)")
        return AuthResult(success=True)

    async def handle_MAIL(self, smtp_server, session, envelope, address, mail_options):
        if self.server.rejected_sender:
            return self.server.rejected_sender
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, smtp_server, session, envelope, address, rcpt_options):
        reply = self.server.rejected_recipients.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp_server, session, envelope):
        if self.server.data_delay:
            await asyncio.sleep(self.server.data_delay)
        with self.server.lock:
            if self.server.fail_next_data:
                self.server.fail_next_data -= 1
                return self.server.failure_reply
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            self.server.messages.append(
                ReceivedMessage(envelope.mail_from, list(envelope.rcpt_tos), message, time.monotonic())
            )
            hold = self.server.hold_after is not None and len(self.server.messages) > self.server.hold_after
            if hold:
                self.server.hold_after = None
                self.server.held.append(envelope.rcpt_tos[0])
                self.server.holding.set()
        if hold:
            await asyncio.get_running_loop().run_in_executor(None, self.server._released.wait)
        return "250 Message accepted for delivery"


class RecordingSMTPServer:
    def __init__(self, port: int, host: str = "127.0.0.1", tls_context: ssl.SSLContext | None = None):
        self.host = host
        self.port = port
        self.messages: list[ReceivedMessage] = []
        self.lock = threading.Lock()
        #: Address (lower-case) -> reply to RCPT TO, e.g. "550 5.1.1 No such user".
        self.rejected_recipients: dict[str, str] = {}
        #: How many DATA commands to refuse next, and with what reply.
        self.fail_next_data = 0
        self.failure_reply = "421 4.3.2 Service not available, try again later"
        #: Seconds the relay takes over each message (a slow relay).
        self.data_delay = 0.0
        #: Hold the reply to the message that comes after this many are recorded (None: never).
        self.hold_after: int | None = None
        #: Set while a reply is held; `held` lists the recipients of every message held so far.
        self.holding = threading.Event()
        self.held: list[str] = []
        self._released = threading.Event()
        #: Reply to MAIL FROM, e.g. Microsoft 365's "550 5.7.60 … send as this sender" (None: accepted).
        self.rejected_sender: str | None = None
        #: The password a sign-in must give (None: any sign-in is taken; OSA signs in only when told to).
        self.password: str | None = None
        #: The OAuth 2 token an XOAUTH2 sign-in must give (None: none is taken).
        self.token: str | None = None
        #: The user names of the sign-ins the server was given (over TLS only, when it has `tls_context`).
        self.sign_ins: list[str] = []
        # With `tls_context`: STARTTLS before anything else, as Microsoft 365 on port 587.
        tls = {"tls_context": tls_context, "require_starttls": True} if tls_context else {"auth_require_tls": False}
        self._controller = Controller(_Handler(self), hostname=host, port=port, authenticator=self._authenticate, **tls)

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        given = auth_data.password.decode() if isinstance(auth_data, LoginPassword) else None
        if isinstance(auth_data, LoginPassword):
            self.sign_ins.append(auth_data.login.decode())
        return AuthResult(success=self.password is None or given == self.password, handled=False)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self.release()
        self._controller.stop()

    def hold_reply_after(self, count: int) -> None:
        """Record the message that comes after `count` have been, then keep its sender waiting for the reply."""
        self._released.clear()
        self.holding.clear()
        self.hold_after = count

    def release(self) -> None:
        """Send the held reply (to whoever is still listening)."""
        self.hold_after = None
        self._released.set()

    def recipients(self) -> list[str]:
        with self.lock:
            return [rcpt for message in self.messages for rcpt in message.rcpt_tos]
