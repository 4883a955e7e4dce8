"""What must hold when things break: a worker killed mid-send, a Redis or a PostgreSQL that restarts,
a relay so slow that a batch outlasts its lease.

Workers here are separate processes (`celery -A tasks.worker worker`) so they can be
killed with SIGKILL; the test plays beat's part by running the sweeper.
"""

import datetime as dt
import os
import random
import signal
import threading
from collections import Counter, defaultdict

import pytest
import time_machine
from sqlalchemy import func, select, text

from service.eventfile import read_event_file
from service.events import store_event
from service.extensions import db
from service.mail import compose
from service.mail.compose import queue_invitations, write_round
from service.db import utcnow
from service.mail.delivery import deliver, requeue_stale
from service.mail.throttle import seconds_per_message
from service.models import Invitee, Outbox

from .conftest import (
    BUNDLED_EVENT,
    all_sent,
    database_restarting,
    running_worker,
    running_workers,
    start_worker_process,
    stopped_after,
    wait_for_outbox,
)
from .support.helpers import wait_for

pytestmark = pytest.mark.slow

KILLS = 6


def load_event_with_invitees(count: int):
    event = store_event(read_event_file(BUNDLED_EVENT)).event
    invitees = [
        Invitee(event=event, name=f"Inbjuden {n}", email=f"inbjuden{n}@example.se",
                email_key=f"inbjuden{n}@example.se", language="sv")
        for n in range(count)
    ]
    db.session.add_all(invitees)
    db.session.commit()
    return event, invitees


def configure(app, smtp, broker_url: str) -> None:
    app.config.update(
        SMTP_HOST=smtp.host, SMTP_PORT=smtp.port, BROKER_URL=broker_url, REDIS_URL=broker_url,
        SEND_RATE_PER_MINUTE=0, SEND_BATCH_SIZE=25,
    )
    app.extensions["celery"].conf.broker_url = broker_url
    app.extensions.pop("osa_throttle", None)


def test_workers_killed_mid_round_lose_nothing_and_duplicate_only_what_was_in_flight(pg_app, smtp, redis_url):
    configure(pg_app, smtp, redis_url)
    event, invitees = load_event_with_invitees(1000)
    queue_invitations(event, invitees)
    assert db.session.scalar(select(func.count()).select_from(Outbox)) == 1000

    random.seed(20211125)
    kills = 0
    while kills < KILLS:
        # The relay records a message and holds its reply, so the kill lands while that message is
        # in flight: it was delivered, and its worker never learned it. Each kill can duplicate it alone.
        smtp.hold_reply_after(len(smtp.messages) + random.randint(0, 40))
        worker = start_worker_process(pg_app)
        wait_for(smtp.holding.is_set, 120, "the worker to be in the middle of a send")
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        smtp.release()
        kills += 1
        db.session.rollback()
        requeue_stale()

    before_last_worker = len(smtp.messages)
    assert before_last_worker < 1000  # every kill happened mid-round, by construction
    with running_worker(pg_app):
        wait_for_outbox(all_sent(1000), timeout=240)

    copies = Counter(smtp.recipients())
    lost = [invitee.email for invitee in invitees if copies[invitee.email] == 0]
    duplicates = sum(count - 1 for count in copies.values())
    print(f"\n1000 invitations, {kills} kills ({before_last_worker} received before the last worker): "
          f"{len(smtp.messages)} messages received, "
          f"{duplicates} duplicates, {len(lost)} lost")
    assert lost == []
    assert duplicates <= kills
    assert {address for address, count in copies.items() if count > 1} <= set(smtp.held)
    message_ids = defaultdict(set)
    for received in smtp.messages:
        message_ids[received.rcpt_tos[0]].add(received.message["Message-ID"])
    assert all(len(ids) == 1 for ids in message_ids.values())
    assert db.session.scalar(select(func.count()).where(Outbox.state == "sent")) == 1000


def test_a_redis_restart_loses_the_queue_and_the_sweeper_sends_everything_once(pg_app, smtp, own_redis):
    configure(pg_app, smtp, own_redis.url)
    event, invitees = load_event_with_invitees(20)
    queue_invitations(event, invitees)  # their tasks wait in Redis: no worker runs yet
    own_redis.stop()
    own_redis.start()  # Redis keeps nothing: the queued tasks are gone

    with running_worker(pg_app):
        wait_for_outbox(all_sent(20), timeout=120)
    assert sorted(smtp.recipients()) == sorted(invitee.email for invitee in invitees)


def test_redis_gone_while_a_message_is_on_the_wire_sends_it_once_and_the_rest_when_redis_is_back(
    pg_app, smtp, own_redis
):
    """Redis keeps the shared send rate. It goes away (a restart) while the relay is taking a message:
    the message is still marked sent, and the rest of the batch waits, given back, until Redis is back."""
    configure(pg_app, smtp, own_redis.url)
    pg_app.config.update(SEND_RATE_PER_MINUTE=120, SEND_BATCH_SIZE=10)
    event, invitees = load_event_with_invitees(10)
    smtp.hold_reply_after(3)  # the fourth message is on the wire when Redis goes
    queue_invitations(event, invitees)
    with running_worker(pg_app):
        wait_for(smtp.holding.is_set, 120, "the worker to be in the middle of its batch")
        own_redis.stop()
        smtp.release()
        db.session.rollback()
        wait_for(lambda: db.session.rollback() or db.session.scalar(
            select(func.count()).where(Outbox.state == "sending")) == 0, 60, "the worker to end its batch")
        assert db.session.scalar(select(func.count()).where(Outbox.state == "sent")) == 4  # the held one too
        own_redis.start()
        wait_for_outbox(all_sent(10), timeout=120)
    copies = Counter(smtp.recipients())
    assert sorted(copies) == sorted(invitee.email for invitee in invitees)
    assert set(copies.values()) == {1}, f"sent twice: {[a for a, n in copies.items() if n > 1]}"


def test_a_database_restart_while_a_message_is_on_the_wire_sends_it_once_and_the_batch_goes_on(
    pg_app, smtp, redis_url, postgres_url, tmp_path
):
    """PostgreSQL restarts while the relay is taking a message. The worker cannot say the message was
    sent until the database is back; it keeps trying while the row's lease lasts (no other worker may
    take the row until then), so the message is not sent again, and the rest of the batch follows."""
    configure(pg_app, smtp, redis_url)
    pg_app.config.update(SEND_BATCH_SIZE=10, SEND_LEASE_SECONDS=120)
    event, invitees = load_event_with_invitees(10)
    smtp.hold_reply_after(3)  # the fourth message is on the wire when the database goes
    queue_invitations(event, invitees)
    worker_log = tmp_path / "worker.log"
    with stopped_after([start_worker_process(pg_app, log=worker_log)]):
        wait_for(smtp.holding.is_set, 120, "the worker to be in the middle of its batch")
        with database_restarting(postgres_url):
            smtp.release()
            wait_for(lambda: "the database cannot be reached" in worker_log.read_text(), 60,
                     "the worker to find the database away")
        wait_for_outbox(all_sent(10), timeout=60)  # well within the lease: no sweep hands a row on
    copies = Counter(smtp.recipients())
    assert sorted(copies) == sorted(invitee.email for invitee in invitees)
    assert set(copies.values()) == {1}, f"sent twice: {[a for a, n in copies.items() if n > 1]}"
    assert "Traceback" not in worker_log.read_text()


def test_a_batch_slower_than_its_lease_is_sent_once_while_other_workers_wait(pg_app, smtp, redis_url):
    configure(pg_app, smtp, redis_url)
    pg_app.config["SEND_BATCH_SIZE"] = 10
    smtp.data_delay = 0.4  # 10 messages take 4 s; the lease is 2 s
    assert pg_app.config["SEND_LEASE_SECONDS"] == 2
    event, invitees = load_event_with_invitees(20)

    # Two workers take a batch each; the third is free to take any row the sweeper hands out.
    with running_workers(pg_app, 3):
        queue_invitations(event, invitees)
        wait_for_outbox(all_sent(20), timeout=120)  # sweeping every 0.2 s, as an eager beat would

    copies = Counter(smtp.recipients())
    assert sorted(copies) == sorted(invitee.email for invitee in invitees)
    assert set(copies.values()) == {1}, f"sent twice: {[a for a, n in copies.items() if n > 1]}"


def test_a_batch_is_leased_for_what_it_needs_at_the_rate_and_a_killed_workers_batch_goes_out_as_its_lease_ends(
    pg_app, smtp, redis_url
):
    configure(pg_app, smtp, redis_url)
    pg_app.config.update(SEND_RATE_PER_MINUTE=120, SEND_BATCH_SIZE=10)
    assert pg_app.config["SEND_LEASE_SECONDS"] == 2  # the floor, below what 10 messages need at this rate
    needs = dt.timedelta(seconds=10 * seconds_per_message(120))  # 10 × 0.56 s
    event, invitees = load_event_with_invitees(10)

    smtp.hold_reply_after(2)  # the third message is in flight when the worker dies
    started = utcnow()
    queue_invitations(event, invitees)
    worker = start_worker_process(pg_app)
    wait_for(smtp.holding.is_set, 120, "the worker to be in the middle of its batch")
    first_arrived = utcnow()
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(10)
    smtp.release()

    db.session.rollback()
    held = db.session.scalars(select(Outbox).where(Outbox.state == "sending")).all()
    assert len(held) == 8 and len({row.lease_until for row in held}) == 1
    lease_ends = held[0].lease_until
    # Claimed after the rows were queued and before the first message arrived, for what 10 need.
    assert started + needs <= lease_ends <= first_arrived + needs

    with time_machine.travel(lease_ends - dt.timedelta(milliseconds=100), tick=False):
        assert requeue_stale() == 0  # still the dead worker's
    with time_machine.travel(lease_ends + dt.timedelta(milliseconds=1), tick=True):
        assert requeue_stale() == 8  # the first sweep after the lease hands them on
        counts = deliver([row.id for row in held])  # as the sending task does, at that moment
    assert counts == {"sent": 8, "retry": 0, "failed": 0, "refused": 0, "skipped": 0, "deferred": 0}
    copies = Counter(smtp.recipients())
    assert sorted(copies) == sorted(invitee.email for invitee in invitees)
    assert [address for address, count in copies.items() if count > 1] == smtp.held  # only the one in flight


@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_a_worker_asked_to_stop_mid_batch_gives_the_rest_back_and_the_next_worker_sends_it(
    pg_app, smtp, redis_url, pool
):
    """A deploy stops the worker (SIGTERM) and kills it if it takes long (Docker after 10 s): the worker
    ends its batch after the message on the wire and gives the rest back, queued as if never tried, so the
    next worker sends them at the next sweep, instead of the rows waiting out the killed worker's lease."""
    configure(pg_app, smtp, redis_url)
    pg_app.config.update(SEND_RATE_PER_MINUTE=60, SEND_BATCH_SIZE=20, SEND_LEASE_SECONDS=90)  # 20 s for the batch
    event, invitees = load_event_with_invitees(20)
    queue_invitations(event, invitees)
    worker = start_worker_process(pg_app, pool)
    wait_for(lambda: len(smtp.messages) >= 2, 120, "the worker to be sending its batch")
    worker.terminate()
    assert worker.wait(60) == 0

    db.session.rollback()
    rows = db.session.scalars(select(Outbox)).all()
    sent = [row for row in rows if row.state == "sent"]
    given_back = [row for row in rows if row.state != "sent"]
    assert 2 <= len(sent) < 20 and len(smtp.messages) == len(sent)
    assert {(row.state, row.attempts, row.lease_until, row.dispatched_at) for row in given_back} == {
        ("queued", 0, None, None)}
    assert requeue_stale() == len(given_back)  # the next sweep hands them on, with no lease to wait out

    pg_app.config.update(SEND_RATE_PER_MINUTE=0)
    with running_worker(pg_app):
        wait_for_outbox(all_sent(20))
    copies = Counter(smtp.recipients())
    assert sorted(copies) == sorted(invitee.email for invitee in invitees)
    assert set(copies.values()) == {1}


def test_a_round_being_written_when_its_worker_is_asked_to_stop_is_written_to_the_end_by_the_next(
    pg_app, smtp, redis_url, monkeypatch
):
    configure(pg_app, smtp, redis_url)
    event, invitees = load_event_with_invitees(30)
    monkeypatch.setattr(compose, "ROUND_CHUNK", 10)
    asked = iter([False, True])  # the worker is asked to stop as the first ten are written
    assert write_round(event.id, stopping=lambda: next(asked, True)) == 10
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Outbox)) == 10

    with running_worker(pg_app):  # the next worker finds the rest of the round on the queue
        wait_for_outbox(all_sent(30), sweep=False)
    copies = Counter(smtp.recipients())
    assert sorted(copies) == sorted(invitee.email for invitee in invitees)
    assert set(copies.values()) == {1}


def test_a_sending_task_that_meets_dropped_database_connections_goes_on_with_fresh_ones(pg_app, smtp, redis_url):
    configure(pg_app, smtp, redis_url)
    pg_app.config["SEND_BATCH_SIZE"] = 10
    event, invitees = load_event_with_invitees(20)
    addresses = sorted(invitee.email for invitee in invitees)
    queue_invitations(event, invitees[:5])
    first = list(db.session.scalars(select(Outbox.id)))
    assert deliver(first)["sent"] == 5  # the pool now holds the connections a worker keeps

    def drop_connections():
        with db.engine.connect() as connection:  # what a database restart does to every client
            connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
            connection.commit()

    drop_connections()
    db.session.rollback()
    queue_invitations(event, invitees[5:])
    rest = sorted(set(db.session.scalars(select(Outbox.id))) - set(first))
    db.session.close()
    drop_connections()

    # Dropped again while the batch is on its way: the reply to its third message is held meanwhile.
    smtp.hold_reply_after(len(smtp.messages) + 2)
    result = {}
    sender = threading.Thread(target=lambda: result.update(run_in_app(pg_app, deliver, rest[:10])))
    sender.start()
    wait_for(smtp.holding.is_set, 60, "the batch to be on its way")
    drop_connections()
    smtp.release()
    sender.join(60)
    assert result == {"sent": 10, "retry": 0, "failed": 0, "refused": 0, "skipped": 0, "deferred": 0}
    assert run_in_app(pg_app, deliver, rest[10:])["sent"] == 5
    assert sorted(smtp.recipients()) == addresses
    db.session.rollback()
    assert set(db.session.scalars(select(Outbox.state))) == {"sent"}


def run_in_app(app, function, *args):
    """Run `function` as a task does: in an app context of its own (its own session)."""
    with app.app_context():
        try:
            return function(*args)
        finally:
            db.session.remove()
