"""Two invitees post for the last bus seat at the same instant, from two processes:
exactly one gets the seat and the other the waiting list, every time."""

import http.cookiejar
import multiprocessing
import re
import threading
import urllib.parse
import urllib.request

import pytest
from sqlalchemy import func, select, text

from service.answers import Answer, DayAnswer, save_answer
from service.db import write_transaction
from service.extensions import db
from service.models import Response, ResponseChange, ResponseDay, TransportOption

from .conftest import add_invitee, link_path, waiting_on_a_lock
from .support.concurrent_poster import post_when_released
from .support.helpers import wait_for

pytestmark = pytest.mark.both_backends

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


@pytest.mark.slow
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


def test_a_seat_given_while_a_save_waits_for_the_lock_is_passed_on_when_that_save_drops_it(
    before_deadline, app, event, database_url
):
    """Bo waits for the bus and changes to his own car. While his save waits for the bus's lock,
    the transaction holding it (Anna leaving the bus) moves him up. His save must see the seat
    he now holds and pass it on to Cia, next in line."""
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks: SQLite's writers hold the whole database from BEGIN")
    bus = db.session.scalar(select(TransportOption).where(TransportOption.key == "bus"))
    bus.capacity = 1
    db.session.commit()
    people = [add_invitee(event, name, f"{name.split()[0].lower()}@example.se") for name in ("Anna A", "Bo B", "Cia C")]
    for person in people:  # Anna takes the seat; Bo, then Cia, wait for it
        with write_transaction():
            save_answer(person, Answer(days={"day1": DayAnswer(True, "bus"), "day2": DayAnswer(False)}))
    anna, bo, cia = people
    own = db.session.scalar(select(TransportOption.id).where(TransportOption.key == "own"))
    row_of = {
        invitee_id: row_id for invitee_id, row_id in db.session.execute(
            select(Response.invitee_id, ResponseDay.id).join(Response).where(ResponseDay.transport_option_id == bus.id)
        )
    }

    with db.engine.connect() as holder:  # Anna's save, holding the bus's lock
        holder.execute(text("SELECT id FROM transport_option WHERE id = :id FOR UPDATE"), {"id": bus.id})
        path, form = link_path(bo), {"csrf_token": form_token_of(app, bo), "day_day1": "yes", "transport_day1": "own",
                                     "day_day2": "no"}
        statuses = []
        bos_save = threading.Thread(target=lambda: statuses.append(app.test_client().post(path, data=form).status_code))
        bos_save.start()
        wait_for(lambda: waiting_on_a_lock(database_url), 30, "Bo's save to wait for the bus's lock")
        holder.execute(text("UPDATE response_day SET transport_option_id = :own WHERE id = :id"),
                       {"own": own, "id": row_of[anna.id]})
        holder.execute(text("UPDATE response_day SET transport_waitlisted_at = NULL WHERE id = :id"), {"id": row_of[bo.id]})
        holder.commit()
        bos_save.join(30)
    assert statuses == [303]

    db.session.rollback()
    on_the_bus = dict(db.session.execute(
        select(Response.invitee_id, ResponseDay.transport_waitlisted_at.is_(None))
        .join(Response).where(ResponseDay.transport_option_id == bus.id)
    ).all())
    assert on_the_bus == {cia.id: True}
    moved = db.session.scalars(select(ResponseChange.actor).where(ResponseChange.invitee_id == cia.id)).all()
    assert moved == ["invitee", "system"]


def form_token_of(app, invitee) -> str:
    html = app.test_client().get(link_path(invitee)).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
