"""Two invitees post for the last bus seat at the same instant, from two processes:
exactly one gets the seat and the other the waiting list, every time."""

import http.cookiejar
import multiprocessing
import re
import urllib.parse
import urllib.request

import pytest
from sqlalchemy import func, select

from service.db import db
from service.models import Response, ResponseDay, TransportOption

from .concurrent_poster import post_when_released
from .conftest import add_invitee, link_path

ROUNDS = 50


def open_answer_page(url: str) -> tuple[str, str]:
    """GET the page as a browser would; return its session cookie and CSRF token."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    html = opener.open(url).read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    return cookie, token


@pytest.fixture
def two_clients():
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    queues = [context.Queue(), context.Queue()]
    results = context.Queue()
    processes = [context.Process(target=post_when_released, args=(barrier, q, results)) for q in queues]
    for process in processes:
        process.start()
    yield queues, results
    for q in queues:
        q.put(None)
    for process in processes:
        process.join(30)


def test_two_processes_race_for_the_last_bus_seat(before_deadline, live_server, event, two_clients):
    queues, results = two_clients
    bus = db.session.scalar(select(TransportOption).where(TransportOption.key == "bus"))
    host, port = "127.0.0.1", int(live_server.url.rsplit(":", 1)[1])
    outcomes = []
    for round_ in range(ROUNDS):
        # Every earlier round left one seat holder; one more seat makes this round's the last.
        bus.capacity = round_ + 1
        db.session.commit()
        pair = [add_invitee(event, f"Racer {round_}-{n}", f"racer{round_}.{n}@example.se") for n in (1, 2)]
        for invitee, jobs in zip(pair, queues):
            path = link_path(invitee)
            cookie, token = open_answer_page(live_server.url + path)
            form = {"csrf_token": token, "day_day1": "yes", "transport_day1": "bus", "day_day2": "no"}
            jobs.put((host, port, path, cookie, form))
        statuses = sorted(results.get(timeout=60) for _ in pair)
        assert statuses == [303, 303]

        db.session.rollback()
        seated = db.session.scalar(
            select(func.count()).select_from(ResponseDay)
            .where(ResponseDay.transport_option_id == bus.id, ResponseDay.transport_waitlisted_at.is_(None))
        )
        mine = db.session.execute(
            select(ResponseDay.transport_waitlisted_at.is_(None))
            .join(Response).where(Response.invitee_id.in_([i.id for i in pair]), ResponseDay.transport_option_id == bus.id)
        ).scalars().all()
        outcomes.append((seated, sorted(mine)))
    assert outcomes == [(round_ + 1, [False, True]) for round_ in range(ROUNDS)]
