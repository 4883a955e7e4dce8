"""Messages as they arrive in a bounce mailbox, built with the `email` library after real ones: a
Postfix DSN, a Microsoft 365 (Exchange Online) NDR, a Gmail delay notice, an Exchange out-of-office
reply, Outlook's and Gmail's replies from a calendar, and a person's reply that is none of these. Each is
about a message OSA really sent."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import icalendar

_NOTICE = {
    "postfix": ("Mail Delivery System <MAILER-DAEMON@mx1.example.org>", "Undelivered Mail Returned to Sender",
                "This is the mail system at host mx1.example.org.\n\nI'm sorry to have to inform you that your "
                "message could not\nbe delivered to one or more recipients.\n"),
    "exchange": ("Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@example.org>",
                 "Undeliverable: {subject}",
                 "Your message to {recipient} couldn't be delivered.\n{recipient} wasn't found at example.org.\n"),
    "gmail": ("Mail Delivery Subsystem <mailer-daemon@googlemail.com>", "Delivery Status Notification (Delay)",
              "There was a temporary problem delivering your message to {recipient}. Gmail will retry for 46 "
              "more hours. You'll be notified if the delivery fails permanently.\n"),
}
_REPORTING_MTA = {"postfix": "dns; mx1.example.org", "exchange": "dns;AM0PR02MB5123.eurprd02.prod.outlook.com",
                  "gmail": "dns; googlemail.com"}


def delivery_report(style: str, original: EmailMessage | None, recipient: str, action: str, status: str,
                    diagnostic: str, to: str = "osa@example.se") -> bytes:
    """A multipart/report (RFC 3464) in the style of `style`'s mail server; `original` is returned as
    headers (Postfix, Gmail) or whole (Exchange), or not at all (None)."""
    sender, subject, text = _NOTICE[style]
    subject = subject.format(subject=original["Subject"] if original is not None else "")
    report = EmailMessage()
    report["From"] = sender
    report["To"] = to
    report["Subject"] = subject
    report["Date"] = formatdate(localtime=True)
    report["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].rstrip(">"))
    report["Auto-Submitted"] = "auto-replied"
    if style == "exchange":
        report["X-MS-Exchange-Message-Is-Ndr"] = ""
    report.set_content(text.format(recipient=recipient))
    report.make_mixed()
    report.replace_header("Content-Type", 'multipart/report; report-type="delivery-status"')
    per_message = EmailMessage()
    per_message["Reporting-MTA"] = _REPORTING_MTA[style]
    per_recipient = EmailMessage()
    per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Original-Recipient"] = f"rfc822;{recipient}"
    per_recipient["Action"] = action
    per_recipient["Status"] = status
    per_recipient["Diagnostic-Code"] = diagnostic
    status_part = EmailMessage()
    status_part["Content-Type"] = "message/delivery-status"
    status_part.attach(per_message)
    status_part.attach(per_recipient)
    report.attach(status_part)
    if original is not None:
        returned = EmailMessage()
        if style == "exchange":
            returned.set_content(original)  # message/rfc822: the whole message
        else:
            headers = original.as_bytes().replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
            returned.set_content(headers.decode("ascii", "replace") + "\n", subtype="rfc822-headers")
        report.attach(returned)
    return report.as_bytes()


def out_of_office(original: EmailMessage, person: str, text: str) -> bytes:
    """An Exchange out-of-office reply to `original`, from `person`."""
    reply = EmailMessage()
    reply["From"] = person
    reply["To"] = original["From"]
    reply["Subject"] = f"Automatiskt svar: {original['Subject']}"
    reply["Date"] = formatdate(localtime=True)
    reply["Message-ID"] = make_msgid(domain="example.se")
    reply["In-Reply-To"] = original["Message-ID"]
    reply["References"] = original["Message-ID"]
    reply["Auto-Submitted"] = "auto-replied"
    reply["X-MS-Exchange-Inbox-Rules-Loop"] = person
    reply.set_content(text + "\n\n> " + "\n> ".join(original.get_body(("plain",)).get_content().splitlines()[:3]))
    return reply.as_bytes()


def personal_reply(original: EmailMessage, person: str) -> bytes:
    """A person who answered the email instead of using the link: not a report of any kind."""
    reply = EmailMessage()
    reply["From"] = person
    reply["To"] = original["From"]
    reply["Subject"] = f"SV: {original['Subject']}"
    reply["Message-ID"] = make_msgid(domain="example.se")
    reply["In-Reply-To"] = original["Message-ID"]
    reply.set_content("Hej! Jag kommer gärna, men kan inte öppna länken. Hälsningar")
    return reply.as_bytes()


def calendar_reply(original: EmailMessage, person: str, address: str, partstat: str, style: str,
                   message_id: str | None = None) -> bytes:
    """What a calendar sends when `person` answers the first entry of the calendar file `original` carried:
    an iTIP REPLY (RFC 5546) with only their ATTENDEE line, from `address` (which may not be the one the
    invitation went to: Outlook replies from the mailbox's primary address), with `message_id` or a new one.
    Outlook (Exchange) sends it as
    the one part besides a short text, without In-Reply-To; Gmail adds an HTML part and the file again as
    invite.ics."""
    part = next(p for p in original.walk() if p.get_content_type() == "text/calendar")
    entry = icalendar.Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")[0]
    words = {"ACCEPTED": ("Accepterat", "Accepted"), "DECLINED": ("Avböjt", "Declined"),
             "TENTATIVE": ("Preliminärt", "Tentatively Accepted")}[partstat]
    calendar = icalendar.Calendar()
    calendar.add("prodid", "Microsoft Exchange Server 2010" if style == "outlook" else "-//Google Inc//Google Calendar 70.9054//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "REPLY")
    reply_entry = icalendar.Event()
    for name in ("UID", "DTSTART", "DTEND", "SEQUENCE", "ORGANIZER"):
        reply_entry[name] = entry[name]
    reply_entry.add("dtstamp", entry.decoded("DTSTAMP"))
    reply_entry.add("summary", f"{words[0] if style == 'outlook' else words[1]}: {entry['SUMMARY']}")
    reply_entry.add("attendee", f"mailto:{address}", parameters={"PARTSTAT": partstat, "CN": person})
    calendar.add_component(reply_entry)
    text = calendar.to_ical().decode("utf-8")
    reply = EmailMessage()
    reply["From"] = f"{person} <{address}>"
    reply["To"] = original["From"]
    reply["Subject"] = f"{words[0]}: {entry['SUMMARY']}" if style == "outlook" else \
        f"{words[1]}: {entry['SUMMARY']} ({original['From'].addresses[0].addr_spec})"
    reply["Date"] = formatdate(localtime=True)
    reply["Message-ID"] = message_id or make_msgid(domain="example.se")
    if style == "outlook":
        reply["Thread-Topic"] = str(entry["SUMMARY"])
        reply.set_content("")
        reply.add_alternative(text, subtype="calendar", params={"method": "REPLY"})
    else:
        reply.set_content(f"{person} has {words[1].lower()} this invitation.")
        reply.add_alternative(f"<p>{person} has {words[1].lower()} this invitation.</p>", subtype="html")
        reply.add_alternative(text, subtype="calendar", params={"method": "REPLY"})
        reply.add_attachment(text.encode("utf-8"), maintype="application", subtype="ics", filename="invite.ics")
    for number, part in enumerate(part for part in reply.walk() if part.is_multipart()):
        part.set_boundary(f"=={style}-reply-{number}==")  # not random: the same message every time
    return reply.as_bytes()
