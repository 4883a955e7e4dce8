"""OSA the way production serves it: gunicorn behind nginx terminating TLS, gunicorn serving TLS
itself, and plain HTTP. In each, the secretariat walks the admin in chromium (signs in, imports a
file, sends the invitations, answers for an invitee, revokes the hotel link) and an invitee
answers from their email, with no response refused."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from service.eventfile import read_event_file
from service.events import store_event
from service.extensions import db

from .conftest import (
    ADMIN_PASSWORD,
    BUNDLED_EVENT,
    add_admin,
    add_invitee,
    running_worker,
    stopped_after,
    worker_environment,
)
from .support.helpers import free_port, self_signed_certificate, wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

NGINX_CONF = """
{user}
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 128; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    client_max_body_size 25m;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {certificate};
        ssl_certificate_key {key};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-Port $server_port;
        }}
    }}
}}
"""


def start_nginx(folder: Path, port: int, upstream: int, certificate: Path, key: Path) -> subprocess.Popen:
    """nginx in front of gunicorn, terminating TLS, as OSA's README sets it up (OSA_PROXY_COUNT=1)."""
    folder.mkdir()
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user="user root;" if os.geteuid() == 0 else "", folder=folder, port=port,
                                      upstream=upstream, certificate=certificate, key=key))
    return subprocess.Popen([NGINX, "-c", str(conf), "-p", str(folder), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def answers(url: str) -> bool:
    import ssl
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2, context=ssl._create_unverified_context()) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(params=["http", "gunicorn-tls", "nginx-tls"])
def served(request, pg_app, smtp, redis_url, tmp_path):
    """OSA's web app in gunicorn (2 workers) on PostgreSQL, served over the parametrized kind of
    connection, with a worker process sending to the test's SMTP server. Yields the public base URL."""
    kind = request.param
    if kind == "nginx-tls" and not os.path.exists(NGINX):
        pytest.skip("nginx is not installed (apt-get install nginx): the TLS proxy test needs it")
    pg_app.config.update(SMTP_HOST=smtp.host, SMTP_PORT=smtp.port, REDIS_URL=redis_url, SEND_RATE_PER_MINUTE=0)
    certificate, key = self_signed_certificate(tmp_path)
    upstream = free_port()
    port = free_port() if kind == "nginx-tls" else upstream
    base = f"{'http' if kind == 'http' else 'https'}://127.0.0.1:{port}"
    pg_app.config["BASE_URL"] = base  # the worker writes the invitations' links: every process shares it
    env = worker_environment(pg_app, OSA_BASE_URL=base, OSA_INSTANCE_PATH=str(tmp_path),
                             OSA_PROXY_COUNT="1" if kind == "nginx-tls" else "0")
    tls = ["--certfile", str(certificate), "--keyfile", str(key)] if kind == "gunicorn-tls" else []
    processes = [subprocess.Popen([str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{upstream}", "--workers", "2", *tls,
                                   "--access-logfile", str(tmp_path / "access.log"), "service.wsgi:app"], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    if kind == "nginx-tls":
        processes.append(start_nginx(tmp_path / "nginx", port, upstream, certificate, key))
    with stopped_after(processes):
        wait_for(lambda: answers(base + "/healthz"), 60, f"OSA over {kind}")
        with running_worker(pg_app):
            yield base


def test_the_secretariat_and_an_invitee_use_osa_over_each_kind_of_connection(served, smtp, browser, tmp_path):
    base = served
    add_admin()
    event = store_event(read_event_file(BUNDLED_EVENT, starts_in_days=14)).event
    db.session.commit()
    add_invitee(event, name="Anna Andersson", email="anna@example.se")
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    refused = []
    page.on("response", lambda response: response.status >= 400 and refused.append((response.status, response.url)))

    page.goto(base + "/admin/")
    page.get_by_label("Användarnamn").fill("sekretariatet")
    page.get_by_label("Lösenord").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    assert page.locator("h1").inner_text() == "Översikt"
    session = next(cookie for cookie in context.cookies() if cookie["name"] == "session")
    assert session["secure"] is base.startswith("https://") and session["httpOnly"]

    # Import a file.
    upload = tmp_path / "inbjudna.csv"
    upload.write_bytes("namn;e-post;organisation;roll\nBo Berg;bo@example.se;Luleå kommun;official\n".encode("cp1252"))
    page.get_by_role("link", name="Importera", exact=True).click()
    page.get_by_label("Fil").set_input_files(upload)
    page.get_by_role("button", name="Importera").click()
    assert "inbjudna.csv: 1 tillagda" in page.locator(".notice").inner_text()

    # Send the invitations, and they arrive.
    page.get_by_role("link", name="Skicka inbjudningar").click()
    page.get_by_role("button", name="Skicka 2 inbjudningar").click()
    assert "2 inbjudningar är på väg." in page.locator(".notice").inner_text()
    wait_for(lambda: sorted(smtp.recipients()) == ["anna@example.se", "bo@example.se"], 60, "both invitations")

    # Answer for Anna.
    page.get_by_role("link", name="Inbjudna", exact=True).click()
    page.get_by_role("link", name="Anna Andersson").click()
    page.get_by_role("link", name="Svara för deras räkning").click()
    page.locator("fieldset.day[data-day=day1]").get_by_label("Ja, jag kommer").check()
    page.locator("fieldset.day[data-day=day1]").get_by_label(re.compile("Bussen från The Wood Hotel")).check()
    page.locator("fieldset.day[data-day=day2]").get_by_label("Nej, jag kommer inte").check()
    page.get_by_role("button", name="Spara svaret").click()
    assert "Svaret är sparat" in page.locator(".notice").inner_text()

    # Revoke the hotel's link.
    page.get_by_role("link", name="Hotell", exact=True).click()
    old_link = page.locator("a.hotel-link").inner_text()
    page.get_by_role("button", name="Spärra och gör en ny länk").click()
    assert "Den gamla hotellänken fungerar inte längre" in page.locator(".notice").inner_text()
    assert page.locator("a.hotel-link").inner_text() != old_link
    page.get_by_role("button", name=re.compile("Logga ut")).click()
    assert "/admin/login" in page.url

    # Over HTTPS the app knows it (behind nginx too, from X-Forwarded-Proto): a form sent from another
    # site is refused by Flask-WTF's referrer check before the password is even looked at.
    token = page.locator("input[name=csrf_token]").get_attribute("value")
    forged = context.request.post(base + "/admin/login", headers={"Referer": "https://evil.example.org/"},
                                  form={"csrf_token": token, "username": "sekretariatet", "password": "gissning"})
    assert forged.status == (400 if base.startswith("https://") else 401)

    # Bo answers from his email.
    invitation = next(m for m in smtp.messages if m.rcpt_tos == ["bo@example.se"]).message
    link = re.search(re.escape(base) + r"/r/\S+", invitation.get_body(("plain",)).get_content()).group(0)
    answer_page = page.goto(link)
    assert answer_page.headers["referrer-policy"] == "no-referrer"
    assert ("strict-transport-security" in answer_page.headers) is base.startswith("https://")
    page.locator("fieldset.day[data-day=day1]").get_by_label("Ja, jag kommer").check()
    page.locator("fieldset.day[data-day=day1]").get_by_label(re.compile("Bussen från The Wood Hotel")).check()
    page.locator("fieldset.day[data-day=day2]").get_by_label("Nej, jag kommer inte").check()
    page.get_by_role("button", name="Spara mitt svar").click()
    assert "/thanks" in page.url and "Tack, Bo Berg!" in page.locator("body").inner_text()
    assert refused == []

    # gunicorn's access log has every request, and no token.
    access_log = wait_for(lambda: "/thanks" in (log := (tmp_path / "access.log").read_text()) and log, 10, "the log")
    assert "/r/[link]" in access_log and link.rsplit(".", 1)[1] not in access_log
    context.close()
