"""Mail that never arrives: refusals, delivery reports read from the bounce mailbox over IMAP
(a real dovecot), auto-replies, and the secretariat correcting an address. The reports are
real-world ones (flufl.bounce's test data) and ones built after a Postfix DSN, a Microsoft 365 NDR,
a Gmail delay notice and an Exchange out-of-office, each about an email OSA really sent."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import http.server
import json
import re
import shutil
import sys
import tempfile
import threading
import urllib.parse
from email.message import EmailMessage
from pathlib import Path

import pytest
import time_machine
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from service.answers import Answer, DayAnswer, save_answer
from service.db import write_transaction
from service.extensions import db
from service.mail.bounce_mailbox import poll_bounce_mailbox
from service.mail.bounces import explain_report, record_report
from service.mail.delivery import build_message
from service.mail.compose import queue_answer_emails, queue_invitation, queue_invitations
from service.models import DeliveryReport, Invitee, Outbox, ReportKind

from .conftest import SWEDISH_TERMINAL, add_invitee, link_path, wait_for_outbox
from .support.helpers import csrf_token, database_state, page_text
from .support.reports import calendar_reply, delivery_report, out_of_office, personal_reply
from .test_admin import listed_names
from .test_bad_input import SAME_EVERY_RUN
from .test_mail import add_invitees

TABLES = ["invitee", "delivery_report", "outbox"]
POSTFIX_550 = "smtp; 550 5.1.1 <{0}>: Recipient address rejected: User unknown in virtual mailbox table"
EXCHANGE_550 = "smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"
GMAIL_452 = "smtp; 452-4.2.2 The recipient's inbox is out of storage space. Please direct the recipient to 4.2.2 " \
            "https://support.google.com/mail/?p=OverQuotaTemp"


def sent_to(mailer, address: str):
    """The message as the SMTP server received it for `address`."""
    return next(m.message for m in mailer.messages if m.rcpt_tos == [address])


def record(raw: bytes):
    with write_transaction():
        return record_report(raw)


# --- The whole loop, over IMAP ----------------------------------------------------------------


def test_refusals_reports_and_an_auto_reply_reach_the_invitee_list_after_one_poll(
    before_deadline, event, mailer, celery_worker, bounce_mailbox, admin_client, runner
):
    invitees = add_invitees(event, 20)
    refused = invitees[0:2]
    bounced_postfix, bounced_exchange, full, away, replied = invitees[5], invitees[9], invitees[12], invitees[15], invitees[17]
    for invitee in refused:
        mailer.rejected_recipients[invitee.email] = f"550 5.1.1 <{invitee.email}>: Recipient address rejected"
    queue_invitations(event, invitees)
    wait_for_outbox(lambda s: len(s) == 20 and all(state in ("sent", "failed") for state in s.values()), sweep=False)
    assert len(mailer.messages) == 18

    bounce_mailbox.deliver(
        delivery_report("postfix", sent_to(mailer, bounced_postfix.email), bounced_postfix.email, "failed", "5.1.1",
                        POSTFIX_550.format(bounced_postfix.email)),
        delivery_report("exchange", sent_to(mailer, bounced_exchange.email), bounced_exchange.email, "failed",
                        "5.1.10", EXCHANGE_550),
        delivery_report("gmail", sent_to(mailer, full.email), full.email, "delayed", "4.2.2", GMAIL_452),
        out_of_office(sent_to(mailer, away.email), f"{away.name} <{away.email}>",
                      "Jag är föräldraledig till 3 januari. Vid brådskande ärenden, ring växeln."),
        personal_reply(sent_to(mailer, replied.email), f"{replied.name} <{replied.email}>"),
    )
    result = runner.invoke(args=["bounces", "poll"])
    assert result.exit_code == 0, result.output
    assert "Read 5 messages (hard bounces: 2, temporary failures: 1, auto-replies: 1, calendar replies: 0, other: 1, " \
           "read before: 0). " \
           "Newly undeliverable: 2." in result.output

    db.session.rollback()
    undeliverable = {i.email: i.undeliverable_reason for i in db.session.scalars(
        select(Invitee).where(Invitee.undeliverable_at.is_not(None)))}
    assert undeliverable == {
        refused[0].email: f"550 5.1.1 <{refused[0].email}>: Recipient address rejected",
        refused[1].email: f"550 5.1.1 <{refused[1].email}>: Recipient address rejected",
        bounced_postfix.email: POSTFIX_550.format(bounced_postfix.email).removeprefix("smtp; "),
        bounced_exchange.email: EXCHANGE_550.removeprefix("smtp;"),
    }
    assert listed_names(admin_client, "?status=undeliverable") == {i.name for i in (*refused, bounced_postfix, bounced_exchange)}
    assert 'data-number="undeliverable">4<' in admin_client.get("/admin/").get_data(as_text=True)

    page = page_text(admin_client.get(f"/admin/invitees/{full.id}"))
    assert "Tillfälliga fel 1 de senaste 7 dagarna" in page and "E-posten når inte fram" not in page
    page = page_text(admin_client.get(f"/admin/invitees/{away.id}"))
    assert "Autosvar Jag är föräldraledig till 3 januari. Vid brådskande ärenden, ring växeln." in page
    assert "E-posten når inte fram" not in page
    page = page_text(admin_client.get(f"/admin/invitees/{bounced_exchange.id}"))
    assert "E-postserverns svar 550 5.1.10 RESOLVER.ADR.RecipientNotFound" in page

    # Nothing is deleted: every message is in the folder of read ones, for a person to check.
    folders = bounce_mailbox.messages()
    assert len(folders["INBOX"]) == 0 and len(folders["OSA-read"]) == 5

    before = database_state(db.session, TABLES)
    assert poll_bounce_mailbox()["known"] == 0  # the inbox is empty now
    # A poll whose moves were lost finds them all again: known, and nothing changes.
    bounce_mailbox.deliver(*folders["OSA-read"])
    assert dict(poll_bounce_mailbox()) == {"known": 5}
    assert database_state(db.session, TABLES) == before
    assert len(bounce_mailbox.messages()["OSA-read"]) == 10


@pytest.mark.both_backends  # the list of those who have not answered reads the reply in a subquery
def test_a_reply_from_a_calendar_becomes_a_note_on_the_invitee_and_no_answer(
    before_deadline, event, mailer, celery_worker, bounce_mailbox, admin_client, runner
):
    # The invitation's calendar entry has Accept and Decline buttons in Outlook and Gmail, and the reply
    # goes to the organiser, the account OSA sends from. The secretariat sees it on the invitee's page,
    # and it records no answer: the person still has to choose their days, meals and transport.
    anna, bo, cai, dan = add_invitees(event, 4)
    queue_invitations(event, [anna, bo, cai, dan])
    with write_transaction():  # Dan answers; many accept the confirmation's entry to put it in their calendar
        answering = db.session.get(Invitee, dan.id)
        queue_answer_emails(answering, save_answer(answering, Answer(days={
            "day1": DayAnswer(attending=True), "day2": DayAnswer(attending=False)})))
    wait_for_outbox(lambda s: len(s) == 5 and all(state == "sent" for state in s.values()), sweep=False)
    confirmation = next(m.message for m in mailer.messages
                        if m.rcpt_tos == [dan.email] and m.message["Subject"].startswith("Bekräftelse"))
    stranger_reply = calendar_reply(sent_to(mailer, cai.email), cai.name, cai.email, "ACCEPTED", "outlook") \
        .replace(f"{event.slug}-day1-{cai.id}@example.se".encode(), b"planering-7@example.org")
    bounce_mailbox.deliver(
        # Outlook answers from the mailbox's primary address, not the alias the invitation went to.
        calendar_reply(sent_to(mailer, anna.email), anna.name, "anna.primary@kommunen.example.se", "ACCEPTED", "outlook"),
        calendar_reply(sent_to(mailer, bo.email), bo.name, bo.email, "DECLINED", "gmail"),
        stranger_reply,  # a reply about a meeting OSA did not set up: other, about no one
        calendar_reply(confirmation, dan.name, dan.email, "ACCEPTED", "outlook"),
        b"From: a@example.org\r\nContent-Type: text/calendar; method=REPLY\r\n\r\nBEGIN:VCALENDAR\r\nnot one\r\n",
    )
    before = database_state(db.session, ["response", "response_day", "response_change", "outbox"])
    result = runner.invoke(args=["bounces", "poll"])
    assert result.exit_code == 0, result.output
    assert "Read 5 messages (hard bounces: 0, temporary failures: 0, auto-replies: 0, calendar replies: 3, " \
           "other: 2, read before: 0). Newly undeliverable: 0." in result.output
    assert database_state(db.session, ["response", "response_day", "response_change", "outbox"]) == before  # no answer, no email

    page = page_text(admin_client.get(f"/admin/invitees/{anna.id}"))
    assert "Status Inget svar" in page
    assert "Kalendersvar Tackade ja i sin kalender. Ett svar från en kalender är inget svar till OSA: bara " \
           "svarssidan på deras länk registrerar ett." in page
    page = page_text(admin_client.get(f"/admin/invitees/{bo.id}"))
    assert "Kalendersvar Tackade nej i sin kalender." in page
    assert "Kalendersvar" not in page_text(admin_client.get(f"/admin/invitees/{cai.id}"))
    assert "Kalendersvar Tackade ja i sin kalender. Det som gäller är deras svar i OSA, som bara ändras på " \
           "sidan för deras länk." in page_text(admin_client.get(f"/admin/invitees/{dan.id}"))
    # The lists of those who have not answered (the dashboard's, the daily report's) say it too, so the
    # secretariat can tell those who think they answered.
    assert "Inbjuden 0 (ja i sin kalender), Inbjuden 1 (nej i sin kalender), Inbjuden 2" in \
        page_text(admin_client.get("/admin/"))
    db.session.rollback()
    reports = db.session.scalars(select(DeliveryReport)).all()
    assert sorted((r.kind, r.invitee_id or 0, r.matched_by) for r in reports) == [
        (ReportKind.CALENDAR_REPLY, anna.id, "calendar"), (ReportKind.CALENDAR_REPLY, bo.id, "calendar"),
        (ReportKind.CALENDAR_REPLY, dan.id, "calendar"), (ReportKind.OTHER, 0, ""), (ReportKind.OTHER, 0, ""),
    ]


def test_a_mailbox_that_cannot_be_signed_in_to_is_named_and_nothing_changes(
    event, bounce_mailbox, app, runner
):
    app.config["BOUNCE_IMAP_PASSWORD"] = "not the password"
    result = runner.invoke(args=["bounces", "poll"])
    assert result.exit_code == 1
    assert "cannot sign in to the bounce mailbox at 127.0.0.1: LoginError" in result.output
    assert "not the password" not in result.output


# --- Matching ---------------------------------------------------------------------------------


def test_messages_no_detector_can_read_are_other_and_do_not_stop_the_reports_after_them(
    before_deadline, event, mailer, celery_worker, bounce_mailbox, runner, caplog
):
    anna = add_invitee(event)
    queue_invitations(event, [anna])
    wait_for_outbox(lambda s: len(s) == 1 and all(state == "sent" for state in s.values()), sweep=False)
    # A plain message with no From (a scanner's notice, a broken auto-responder), which one of Mailman's
    # detectors cannot read, and a subject in a charset that is no name: either, left unread at the head
    # of the inbox, would block every later report.
    bounce_mailbox.deliver(
        b"Subject: Scanned message\r\nDate: Mon, 7 Dec 2026 09:00:00 +0100\r\n\r\nNo sender here.\r\n",
        b"From: scanner@example.org\r\nSubject: =?utf-\xff?Q?Skannat?=\r\n\r\nA garbled subject.\r\n",
        delivery_report("postfix", sent_to(mailer, anna.email), anna.email, "failed", "5.1.1",
                        POSTFIX_550.format(anna.email)),
    )
    result = runner.invoke(args=["bounces", "poll"])
    assert result.exit_code == 0, result.output
    assert "Read 3 messages (hard bounces: 1, temporary failures: 0, auto-replies: 0, calendar replies: 0, " \
           "other: 2, read before: 0). Newly undeliverable: 1." in result.output
    db.session.rollback()
    assert db.session.get(Invitee, anna.id).undeliverable_at is not None
    folders = bounce_mailbox.messages()
    assert len(folders["INBOX"]) == 0 and len(folders["OSA-read"]) == 3
    assert "Traceback" not in caplog.text


def test_a_report_that_returns_nothing_of_the_message_is_matched_by_its_signed_return_address(
    before_deadline, app, event, mailer, celery_worker
):
    app.config["BOUNCE_ADDRESS"] = "osa-bounces@example.se"
    anna, bo = add_invitee(event), add_invitee(event, "Bo Berg", "bo.berg@example.se")
    queue_invitations(event, [anna, bo])
    wait_for_outbox(lambda s: len(s) == 2 and all(state == "sent" for state in s.values()), sweep=False)
    envelope = {m.rcpt_tos[0]: m.mail_from for m in mailer.messages}
    assert all(re.fullmatch(r"osa-bounces\+\d+-[0-9a-f]{16}@example\.se", sender) for sender in envelope.values())
    assert len(set(envelope.values())) == 2  # one tag per email

    forged = re.sub(r"-[0-9a-f]{16}@", "-0123456789abcdef@", envelope[bo.email])
    recorded = record(delivery_report("postfix", None, "someone@example.org", "failed", "5.1.1",
                                      "smtp; 550 5.1.1 unknown", to=forged))
    assert recorded.invitees == []  # a tag OSA did not sign names no one
    recorded = record(delivery_report("postfix", None, "forwarded-on@example.org", "failed", "5.1.1",
                                      "smtp; 550 5.1.1 unknown", to=envelope[anna.email].upper()))
    assert [i.email for i in recorded.undeliverable] == [anna.email]
    assert db.session.scalar(select(DeliveryReport.matched_by).where(DeliveryReport.invitee_id == anna.id)) == "return-path"


def test_a_report_that_the_sending_mailbox_was_blocked_makes_no_recipient_undeliverable(event):
    """Microsoft 365 blocks a mailbox that sent what looked like spam, and reports each message it held
    as failed with 5.1.8: that is the secretariat's mailbox, not the invitees' addresses."""
    anna = add_invitee(event)
    queue_invitation(anna)
    db.session.commit()
    recorded = record(delivery_report("exchange", None, anna.email, "failed", "5.1.8",
                                      "smtp;550 5.1.8 Access denied, bad outbound sender"))
    assert recorded.finding.kind == ReportKind.OTHER and recorded.undeliverable == []
    assert db.session.get(Invitee, anna.id).undeliverable_at is None
    recorded = record(delivery_report("postfix", None, anna.email, "failed", "5.1.1", POSTFIX_550.format(anna.email)))
    assert [invitee.id for invitee in recorded.undeliverable] == [anna.id]  # a refusal of her address still counts


@pytest.mark.both_backends
def test_temporary_failures_of_three_emails_within_seven_days_make_an_address_undeliverable(
    before_deadline, event, mailer, celery_worker
):
    slow, full, waiting = add_invitee(event), add_invitee(event, "Bo Berg", "bo.berg@example.se"), \
        add_invitee(event, "Cia Dröj", "cia.droj@example.se")
    for again in (False, True, True):  # three emails each: the invitation, sent again twice
        with write_transaction():
            for invitee in (slow, full, waiting):
                queue_invitation(invitee, again=again)
    wait_for_outbox(lambda s: len(s) == 9 and all(state == "sent" for state in s.values()), sweep=False)

    def delays(invitee, messages=3) -> list[bytes]:
        sent = [m.message for m in mailer.messages if m.rcpt_tos == [invitee.email]]
        return [delivery_report("gmail", sent[number % messages], invitee.email, "delayed", "4.2.2", GMAIL_452)
                for number in range(3)]

    start = dt.datetime(2021, 11, 1, 10, 0, tzinfo=dt.timezone.utc)
    for day, raw in zip((0, 3, 8), delays(slow)):  # the first is 8 days old when the third comes
        before_deadline.move_to(start + dt.timedelta(days=day))
        assert record(raw).undeliverable == []
    # A relay that keeps one email and retries writes each time it waits: one email delayed, not a dead address.
    for hours, raw in zip((4, 24, 48), delays(waiting, messages=1)):
        before_deadline.move_to(start + dt.timedelta(hours=hours))
        assert record(raw).undeliverable == []
    for day, raw in zip((0, 3, 6), delays(full)):
        before_deadline.move_to(start + dt.timedelta(days=day))
        undeliverable = record(raw).undeliverable
    assert [i.email for i in undeliverable] == [full.email]
    db.session.rollback()
    assert db.session.get(Invitee, full.id).undeliverable_reason.startswith("452-4.2.2 The recipient's inbox is out")
    assert db.session.get(Invitee, waiting.id).undeliverable_at is None
    assert db.session.scalar(select(func.count(DeliveryReport.id)).where(DeliveryReport.invitee_id == waiting.id)) == 3


def test_a_late_report_about_an_address_since_corrected_leaves_the_new_address_alone(
    before_deadline, event, mailer, celery_worker
):
    anna = add_invitee(event, email="anna.gammal@example.se")
    queue_invitations(event, [anna])
    wait_for_outbox(lambda s: len(s) == 1 and all(state == "sent" for state in s.values()), sweep=False)
    old = sent_to(mailer, anna.email)
    with write_transaction():
        db.session.get(Invitee, anna.id).email = "anna.ny@example.se"
        db.session.get(Invitee, anna.id).email_key = "anna.ny@example.se"
    recorded = record(delivery_report("postfix", old, "anna.gammal@example.se", "failed", "5.1.1", "smtp; 550 no"))
    assert recorded.undeliverable == [] and db.session.get(Invitee, anna.id).undeliverable_at is None
    assert db.session.scalar(select(DeliveryReport.outbox_id)) is not None  # kept, for the record


# --- Real-world reports -----------------------------------------------------------------------

#: Where OSA reads a file differently from flufl.bounce's detectors, and why.
BETTER_THAN_THE_DETECTORS = {
    # An RFC 3464 report: Gmail blocked the message as spam (5.7.1); flufl's DSN detector skips it.
    "simple_42.txt": ("hard", {"david...@gmail.com"}),
    # "Precedence: auto_reply", "Subject: Auto reply": an auto-responder, not a bounce.
    "qmail_08.txt": ("auto_reply", {"contact@example.com"}),
}


def expected_class(real_reports, filename: str) -> tuple[str, set[str]]:
    if filename in BETTER_THAN_THE_DETECTORS:
        return BETTER_THAN_THE_DETECTORS[filename]
    addresses, temporary = real_reports.expected.get(filename, (set(), False))
    if not addresses:
        return "other", set()
    return ("soft" if temporary else "hard"), addresses


def invite_every_reported_address(event, real_reports) -> list[Path]:
    """The real reports' files, each address they name an invitee whom OSA sent an invitation."""
    files = sorted(real_reports.data.glob("*.txt"))
    addresses = sorted({a for f in files for a in expected_class(real_reports, f.name)[1]})
    for number, address in enumerate(addresses):
        invitee = Invitee(event=event, name=f"Mottagare {number}", email=address, email_key=address.lower(),
                          language="sv")
        db.session.add(invitee)
        db.session.flush()
        db.session.add(Outbox(event_id=event.id, invitee_id=invitee.id, kind="invitation", recipient=address,
                              language="sv", idempotency_key=f"invitation:{invitee.id}:1", message_id=f"<{number}@example.se>",
                              sender="OSA <osa@example.se>", subject="Inbjudan", body_text="Hej"))
    db.session.commit()
    return files


def test_every_real_world_report_is_classified_as_expected_and_matched_to_its_invitee(event, real_reports):
    files = invite_every_reported_address(event, real_reports)
    assert len(files) == 117

    wrong = []
    table = []
    for file in files:
        finding, invitees = explain_report(file.read_bytes())
        kind, expected = expected_class(real_reports, file.name)
        matched = {i.email.lower() for i in invitees}
        table.append((file.name, finding.kind.value, ", ".join(sorted(matched)) or "–"))
        if finding.kind != kind or matched != expected:
            wrong.append((file.name, kind, sorted(expected), finding.kind.value, sorted(matched), finding.reason))
    assert wrong == []
    counts = {kind: sum(1 for _, k, _ in table if k == kind) for kind in ("hard", "soft", "auto_reply", "other")}
    assert counts == {"hard": 101, "soft": 11, "auto_reply": 1, "other": 4}


@pytest.mark.both_backends
def test_a_real_report_broken_in_any_way_is_read_as_one_kind_never_an_error(event, real_reports):
    """What reaches the bounce mailbox is anybody's: a report cut short, a header gone, bytes garbled
    (a NUL, which PostgreSQL refuses in a text). Each is recorded as some kind; an error would leave
    it at the head of the inbox, blocking every poll."""
    reports = [file.read_bytes() for file in invite_every_reported_address(event, real_reports)]
    with time_machine.travel(dt.datetime(2021, 11, 1, 9, 0, tzinfo=dt.timezone.utc), tick=False):  # the same bytes every run
        anna = add_invitee(event)
        row = db.session.get(Outbox, queue_invitation(anna))
        db.session.commit()
        original = email.message_from_bytes(build_message(row).as_bytes(), policy=email.policy.default)
        reports += [calendar_reply(original, anna.name, anna.email, "ACCEPTED", style, f"<reply-{style}@example.se>")
                    for style in ("outlook", "gmail")]
    headers = [b"From:", b"Subject:", b"Content-Type:", b"boundary=", b"Message-ID:", b"Final-Recipient:",
               b"Status:", b"Action:", b"charset=", b"METHOD:", b"UID:", b"PARTSTAT="]

    @SAME_EVERY_RUN
    @given(st.sampled_from(reports), st.integers(0, 100_000), st.sampled_from(headers),
           st.sampled_from([b"", b"X-", b"=?utf-\xff?Q?x?= ", b"\x00", b"\r\n\r\n", b"message/rfc822; "]),
           st.lists(st.tuples(st.integers(0, 100_000), st.integers(0, 255)), max_size=8), st.booleans())
    def read(report, cut, header, put, flips, whole):
        broken = bytearray(report.replace(header, b"X-" + header if put == b"X-" else header + put, 1))
        for at, byte in flips:
            broken[at % len(broken)] = byte
        raw = bytes(broken if whole else broken[:cut % (len(broken) + 1)])
        try:
            recorded = record_report(raw)
            db.session.flush()
            assert recorded.known or recorded.finding.kind in set(ReportKind)
        finally:
            db.session.rollback()

    read()


def test_the_named_kinds_of_real_reports_are_read_with_the_servers_reason(app, real_reports):
    def finding(name):
        return explain_report((real_reports.data / name).read_bytes())[0]

    # Microsoft 365 (Exchange Online, outlook.com protection): 4.4.4 after retries is a failure.
    assert finding("simple_44.txt").kind == ReportKind.HARD
    # A Postfix DSN, with the remote server's words.
    postfix = finding("dsn_10.txt")
    assert (postfix.kind, postfix.recipients) == (ReportKind.HARD, ["anne.person@dom.ain"])
    assert "550 {mx001-rz3} <anne.person@dom.ain>... User unknown" in postfix.reason
    # Gmail's DSNs: a failure, and a delay (soft).
    assert finding("simple_17.txt").kind == ReportKind.HARD
    assert finding("simple_28.txt").kind == ReportKind.SOFT
    # Neither a report nor an auto-reply: a person's message that mentions "mail".
    assert finding("groupwise_03.txt").kind == ReportKind.OTHER


def test_classify_says_what_saved_messages_are_and_whom_they_concern_changing_nothing(
    before_deadline, app, event, mailer, celery_worker, runner, tmp_path
):
    anna, bo, cia = add_invitees(event, 3)
    queue_invitations(event, [anna, bo, cia])
    wait_for_outbox(lambda s: len(s) == 3 and set(s.values()) == {"sent"}, sweep=False)
    saved = {
        "postfix.eml": delivery_report("postfix", sent_to(mailer, anna.email), anna.email, "failed", "5.1.1",
                                       POSTFIX_550.format(anna.email)),
        "gmail.eml": delivery_report("gmail", sent_to(mailer, bo.email), bo.email, "delayed", "4.2.2", GMAIL_452),
        "away.eml": out_of_office(sent_to(mailer, cia.email), f"{cia.name} <{cia.email}>", "Tillbaka 3 januari."),
        "reply.eml": personal_reply(sent_to(mailer, cia.email), f"{cia.name} <{cia.email}>"),
    }
    for name, raw in saved.items():
        (tmp_path / name).write_bytes(raw)
    files = [str(tmp_path / name) for name in saved]
    before = database_state(db.session, TABLES)

    result = runner.invoke(args=["bounces", "classify", *files])
    assert result.exit_code == 0, result.output
    lines = [line.split("\t")[:4] for line in result.output.splitlines()]
    assert lines == [
        ["postfix.eml", "hard bounce", anna.email, f"{anna.name} <{anna.email}>"],
        ["gmail.eml", "temporary failure", bo.email, f"{bo.name} <{bo.email}>"],
        ["away.eml", "auto-reply", cia.email, f"{cia.name} <{cia.email}>"],
        ["reply.eml", "other", "–", "–"],
    ]
    assert result.output.splitlines()[0].endswith("\t" + POSTFIX_550.format(anna.email).removeprefix("smtp; "))
    swedish = app.test_cli_runner(env=SWEDISH_TERMINAL).invoke(args=["bounces", "classify", *files]).output
    assert [line.split("\t")[1] for line in swedish.splitlines()] == [
        "permanent fel", "tillfälligt fel", "autosvar", "annat"]
    assert database_state(db.session, TABLES) == before


# --- Correcting the address -------------------------------------------------------------------


def test_correcting_an_address_asks_first_then_sends_one_invitation_with_a_new_link(
    before_deadline, event, mailer, celery_worker, admin_client, client
):
    anna = add_invitee(event, email="anna.andersen@example.se")
    bo = add_invitee(event, "Bo Berg", "bo.berg@example.se")
    mailer.rejected_recipients[anna.email] = "550 5.1.1 <anna.andersen@example.se>: Recipient address rejected"
    queue_invitations(event, [anna, bo])
    wait_for_outbox(lambda s: len(s) == 2 and all(state in ("sent", "failed") for state in s.values()), sweep=False)
    old_link = link_path(db.session.get(Invitee, anna.id))
    page = admin_client.get(f"/admin/invitees/{anna.id}/address")
    assert "E-postserverns svar: 550 5.1.1" in page_text(page)

    before = database_state(db.session, TABLES)
    for bad, message in (("anna@", "'anna@' är inte en giltig e-postadress"),
                         ("BO.BERG@example.se", "'BO.BERG@example.se' är redan adressen till Bo Berg")):
        response = admin_client.post(f"/admin/invitees/{anna.id}/address",
                                     data={"csrf_token": csrf_token(page), "email": bad})
        assert response.status_code == 400 and message in page_text(response)
    asked = admin_client.post(f"/admin/invitees/{anna.id}/address",
                              data={"csrf_token": csrf_token(page), "email": " anna.andersson@example.se "})
    assert asked.status_code == 200
    assert "Skicka inbjudan till anna.andersson@example.se med en ny länk? Länken som skickades till " \
           "anna.andersen@example.se slutar fungera." in page_text(asked)
    assert database_state(db.session, TABLES) == before  # nothing changes until it is confirmed

    done = admin_client.post(f"/admin/invitees/{anna.id}/address", data={
        "csrf_token": csrf_token(asked), "email": "anna.andersson@example.se", "confirmed": "yes"})
    assert done.status_code == 302
    wait_for_outbox(lambda s: len(s) == 3 and all(state in ("sent", "failed") for state in s.values()), sweep=False)
    new = [m.message for m in mailer.messages if m.rcpt_tos == ["anna.andersson@example.se"]]
    assert len(new) == 1
    db.session.rollback()
    assert db.session.get(Invitee, anna.id).undeliverable_at is None
    new_link = re.search(r"http://osa\.example\.se(/r/[^/\s]+)\s", new[0].get_body(("plain",)).get_content()).group(1)
    assert new_link != old_link and client.get(new_link).status_code == 200
    assert "Länken har ersatts" in page_text(client.get(old_link))
    assert "Adressen är nu anna.andersson@example.se." in page_text(admin_client.get(done.location))


# --- Signing in with OAuth 2 ------------------------------------------------------------------


class TokenIntrospection(http.server.BaseHTTPRequestHandler):
    """The identity provider's token check (RFC 7662) that dovecot asks: one token is good."""

    def do_POST(self):
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        good = form.get("token") == ["token-from-the-command"]
        body = json.dumps({"active": good, "username": "osa-bounces@example.se"} if good else {"active": False})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def oauth_mailbox(app):
    from .support.imap import start_dovecot

    identity = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TokenIntrospection)
    threading.Thread(target=identity.serve_forever, daemon=True).start()
    folder = Path(tempfile.mkdtemp(prefix="osa-dovecot-"))
    folder.chmod(0o755)
    try:
        server = start_dovecot(folder, f"http://127.0.0.1:{identity.server_port}/introspect")
    except RuntimeError as error:
        pytest.skip(str(error))
    app.config.update(server.settings(), BOUNCE_IMAP_PASSWORD="")
    yield server
    server.stop()
    identity.shutdown()
    identity.server_close()
    shutil.rmtree(folder, ignore_errors=True)


def test_a_mailbox_that_takes_no_password_is_read_with_a_token_from_the_command(app, event, oauth_mailbox, runner):
    app.config["BOUNCE_IMAP_TOKEN_COMMAND"] = f"{sys.executable} -c 'print(\"token-from-the-command\")'"
    oauth_mailbox.deliver(personal_reply_to_nothing())
    assert dict(poll_bounce_mailbox()) == {"other": 1, "undeliverable": 0}

    app.config["BOUNCE_IMAP_TOKEN_COMMAND"] = f"{sys.executable} -c 'print(\"an expired token\")'"
    result = runner.invoke(args=["bounces", "poll"])
    assert result.exit_code == 1 and "cannot sign in to the bounce mailbox at 127.0.0.1: LoginError" in result.output
    app.config["BOUNCE_IMAP_TOKEN_COMMAND"] = f"{sys.executable} -c 'raise SystemExit(3)'"
    result = runner.invoke(args=["bounces", "poll"])
    assert result.exit_code == 1 and "OSA_BOUNCE_IMAP_TOKEN_COMMAND gave no token: CalledProcessError" in result.output


def personal_reply_to_nothing() -> bytes:
    original = EmailMessage()
    original["From"], original["Subject"], original["Message-ID"] = "osa@example.se", "Inbjudan", "<1@example.se>"
    original.set_content("Hej")
    return personal_reply(original, "Anna <anna@example.se>")
