"""A real IMAP server for the bounce mailbox's tests: Debian's dovecot, started in a temporary
folder on a free port with TLS, one account, and stopped at the end. Also the real-world delivery
reports that flufl.bounce's source distribution ships, fetched once into a cache.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from imapclient import IMAPClient

from .helpers import free_port, self_signed_certificate, wait_for

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
CACHE = Path(__file__).resolve().parents[2] / ".cache"

_CONF = """
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = 1
ssl = required
ssl_cert = <{certificate}
ssl_key = <{key}
auth_mechanisms = plain login{xoauth2}
mail_location = maildir:~/Maildir
{oauth2}passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {folder}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {folder}/users
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
"""


@dataclass
class Dovecot:
    """A running dovecot with one mailbox, `user`, that OSA reads over TLS at `port`."""

    folder: Path
    port: int
    certificate: Path
    process: subprocess.Popen
    user: str = "osa-bounces@example.se"
    password: str = "a test password"

    def settings(self) -> dict:
        return {"BOUNCE_IMAP_HOST": "127.0.0.1", "BOUNCE_IMAP_PORT": self.port, "BOUNCE_IMAP_TLS": "ssl",
                "BOUNCE_IMAP_USER": self.user, "BOUNCE_IMAP_PASSWORD": self.password,
                "BOUNCE_IMAP_CA_FILE": str(self.certificate)}

    def client(self) -> IMAPClient:
        import ssl

        client = IMAPClient("127.0.0.1", port=self.port, ssl=True,
                            ssl_context=ssl.create_default_context(cafile=str(self.certificate)), timeout=10)
        client.login(self.user, self.password)
        return client

    def deliver(self, *messages: bytes, folder: str = "INBOX") -> None:
        """Put messages in the mailbox, as the mail server does when reports arrive."""
        with self.client() as client:
            for message in messages:
                client.append(folder, message)

    def messages(self) -> dict[str, list[bytes]]:
        """Every message in every folder, by folder."""
        with self.client() as client:
            found = {}
            for _, _, name in client.list_folders():
                client.select_folder(name, readonly=True)
                uids = client.search("ALL")
                found[name] = [data[b"BODY[]"] for _, data in sorted(client.fetch(uids, ["BODY.PEEK[]"]).items())] \
                    if uids else []
            return found

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


_OAUTH2_PASSDB = """passdb {{
  driver = oauth2
  mechanisms = xoauth2
  args = {folder}/oauth2.conf.ext
}}
"""
_OAUTH2_CONF = """introspection_mode = post
introspection_url = {url}
username_attribute = username
active_attribute = active
active_value = true
"""


def start_dovecot(folder: Path, token_introspection_url: str | None = None) -> Dovecot:
    """Dovecot for one test, or RuntimeError naming the package when it is not installed. With
    `token_introspection_url`, it also takes XOAUTH2, asking that URL (RFC 7662) whether a token holds."""
    if not os.path.exists(DOVECOT):
        raise RuntimeError("dovecot is not installed (apt-get install dovecot-imapd): the IMAP tests need it")
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("run", "state", "home"):
        (folder / name).mkdir()
    certificate, key = self_signed_certificate(folder)
    if os.geteuid() == 0:
        # As root, dovecot drops to its own users, and mail may not belong to root.
        internal_user, internal_group, login_user = "dovecot", "dovecot", "dovenull"
        owner = pwd.getpwnam("nobody")
        os.chown(folder / "home", owner.pw_uid, owner.pw_gid)
    else:
        owner = pwd.getpwuid(os.getuid())
        internal_user, internal_group, login_user = owner.pw_name, owner.pw_name, owner.pw_name
    port = free_port()
    server = Dovecot(folder, port, certificate, process=None)  # type: ignore[arg-type]
    (folder / "users").write_text(
        f"{server.user}:{{PLAIN}}{server.password}:{owner.pw_uid}:{owner.pw_gid}::{folder / 'home'}\n")
    oauth2 = ""
    if token_introspection_url:
        (folder / "oauth2.conf.ext").write_text(_OAUTH2_CONF.format(url=token_introspection_url))
        oauth2 = _OAUTH2_PASSDB.format(folder=folder)
    (folder / "dovecot.conf").write_text(_CONF.format(
        folder=folder, port=port, certificate=certificate, key=key, internal_user=internal_user,
        internal_group=internal_group, login_user=login_user, oauth2=oauth2,
        xoauth2=" xoauth2" if oauth2 else ""))
    server.process = subprocess.Popen([DOVECOT, "-F", "-c", str(folder / "dovecot.conf")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _listens(port) or server.process.poll() is not None, timeout=20, what="dovecot to listen")
    except AssertionError:
        server.stop()
        raise
    if server.process.poll() is not None:
        log = (folder / "dovecot.log").read_text() if (folder / "dovecot.log").exists() else ""
        raise RuntimeError(f"dovecot did not start: {log}")
    return server


def _listens(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# The real-world reports of flufl.bounce's source distribution


@dataclass
class RealReports:
    """flufl.bounce's test data: `data` holds the 117 messages; `expected` says, per file, the
    addresses its detectors find and whether the failure is temporary (from its own test table)."""

    data: Path
    expected: dict[str, tuple[set[str], bool]]


def flufl_reports() -> RealReports:
    """The sdist of the installed flufl.bounce, downloaded once into .cache/ (RuntimeError when it
    cannot be had: no network and no cache)."""
    version = importlib.metadata.version("flufl.bounce")
    folder = CACHE / f"flufl_bounce-{version}"
    if not (folder / "tests" / "test_detectors.py").exists():
        CACHE.mkdir(exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps",
             f"flufl.bounce=={version}", "-d", str(CACHE)], capture_output=True, text=True)
        archive = CACHE / f"flufl_bounce-{version}.tar.gz"
        if done.returncode != 0 or not archive.exists():
            raise RuntimeError(f"flufl.bounce's source distribution could not be downloaded "
                               f"(pip download --no-binary :all: flufl-bounce=={version}): {done.stderr[-300:]}")
        with tarfile.open(archive) as tar:
            tar.extractall(CACHE, filter="data")
    return RealReports(folder / "tests" / "data", _expected(folder / "tests" / "test_detectors.py"))


def _expected(test_file: Path) -> dict[str, tuple[set[str], bool]]:
    """flufl.bounce's DETECTORS table (detector, file, addresses, temporary), merged per file."""
    tree = ast.parse(test_file.read_text())
    table = next(node.value for node in tree.body if isinstance(node, ast.Assign)
                 and getattr(node.targets[0], "id", "") == "DETECTORS")
    expected: dict[str, tuple[set[str], bool]] = {}
    for _, filename, addresses, temporary in ast.literal_eval(table):
        found, was_temporary = expected.get(filename, (set(), False))
        expected[filename] = (found | {address.decode().lower() for address in addresses}, was_temporary or temporary)
    return expected
