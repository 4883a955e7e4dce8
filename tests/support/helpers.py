"""Small helpers every test file may use: free ports, waiting for a condition,
a form's CSRF token, what a page says, a snapshot of the database, and a TLS certificate."""

from __future__ import annotations

import html
import json
import re
import socket
import subprocess
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import text


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float = 30.0, what: str = "the condition"):
    """Poll `predicate` until it returns something true, and return that.

    The timeout only stops a test that would otherwise hang: nothing here races a clock.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def csrf_token(response) -> str:
    """The CSRF token of the (first) form on a page."""
    return re.search(r'name="csrf_token"[^>]* value="([^"]+)"', response.get_data(as_text=True)).group(1)


def page_text(response) -> str:
    """The words a reader sees on a page: tags gone, entities decoded, white space collapsed."""
    return html_text(response.get_data(as_text=True))


def html_text(markup: str) -> str:
    """The words a reader sees in HTML (a page or an email's HTML part)."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", markup)))


def database_state(session, tables) -> dict:
    """Every row of `tables` with all columns (timestamps included), to prove a request changed nothing."""
    session.rollback()
    return {table: session.execute(text(f"SELECT * FROM {table} ORDER BY 1")).all() for table in tables}


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with openssl, for TLS servers a test starts."""
    certificate, key = folder / "certificate.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(certificate)],
                   check=True, capture_output=True)
    return certificate, key


def stored_anywhere(session, values: list[str]) -> set[str]:
    """Which of `values` any text or JSON column of any table holds, in any row (as committed)."""
    session.rollback()
    found = set()
    from service.extensions import db

    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, (sa.String, sa.Text, sa.JSON))]
        if not columns:
            continue
        for row in session.execute(sa.select(*columns)):
            cells = " ".join(json.dumps(cell, ensure_ascii=False) if not isinstance(cell, str) else cell
                             for cell in row if cell is not None)
            found.update(value for value in values if value in cells)
    return found
