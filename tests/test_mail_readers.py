"""Every kind of email, in both languages, as its readers' programs take it: a phone shows the
HTML part in chromium at 375 px without scrolling sideways, with links that can be followed;
Outlook for Windows keeps it in a column of reading width on a wide screen; and SpamAssassin
(Debian's, local tests only, no network) scores it at most 1.0."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess

import pytest
import time_machine

from service.extensions import db
from service.mail.previews import KINDS, preview_email

from .conftest import add_invitee
from .test_mail import as_sent

SPAMASSASSIN = shutil.which("spamassassin") or "/usr/bin/spamassassin"

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("language", ["sv", "en"])
def test_every_kind_fits_a_phone_and_its_links_are_links(before_deadline, app, event, phone, language):
    add_invitee(event, "Åsa Öberg-Ståhl", "asa.oberg@example.se", "official", language)
    db.session.commit()
    too_wide = {}
    for kind in KINDS:
        preview = preview_email(event, kind, language)
        phone.set_content(preview.html)
        width = phone.evaluate("document.documentElement.scrollWidth")
        if width > 375:
            too_wide[kind] = width
        links = phone.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
        shown = phone.locator("body").inner_text()
        for url in ("/r/", "/hotel/"):
            if url in preview.text:
                assert any(url in link for link in links), (kind, url)  # the text part's link is a link here too
        if kind not in ("daily_report", "retention_problem"):  # mail to the secretariat itself
            assert event.secretariat_email in shown, kind  # whom to ask, on every other
    assert too_wide == {}


def as_outlook_for_windows_lays_it_out(html: str) -> str:
    """The HTML as Outlook for Windows (Word) takes it, in the two ways that decide a column's width:
    it reads what is inside `<!--[if mso]>` comments, and ignores max-width."""
    html = re.sub(r"<!--\[if mso\]>(.*?)<!\[endif\]-->", r"\1", html, flags=re.S)
    return re.sub(r"max-width:\s*[^;\"]+;?", "", html)


def test_every_kind_keeps_a_column_of_reading_width_in_outlook_for_windows(before_deadline, app, event, browser):
    add_invitee(event, "Åsa Öberg-Ståhl", "asa.oberg@example.se", "official", "sv")
    db.session.commit()
    desktop = browser.new_page(viewport={"width": 1400, "height": 900})
    widths = {}
    for kind in KINDS:
        desktop.set_content(as_outlook_for_windows_lays_it_out(preview_email(event, kind, "sv").html))
        widths[kind] = desktop.evaluate("document.querySelector('.card').getBoundingClientRect().width")
    desktop.close()
    assert {kind: width for kind, width in widths.items() if width > 600} == {}, widths


def test_every_kind_passes_a_spam_filter(before_deadline, app, event):
    if not shutil.which(SPAMASSASSIN):
        pytest.skip("SpamAssassin is not installed (apt-get install spamassassin)")
    add_invitee(event, "Åsa Öberg-Ståhl", "asa.oberg@example.se", "official", "sv")
    add_invitee(event, "Bo Berg", "bo.berg@example.se", "kso", "en")
    db.session.commit()
    scores = {}
    for language in ("sv", "en"):
        for kind in KINDS:
            checked = subprocess.run([SPAMASSASSIN, "--local", "--test-mode"], input=as_sent(
                preview_email(event, kind, language), kind), capture_output=True, timeout=120, check=True)
            status = re.search(rb"^X-Spam-Status: \w+, score=(-?[\d.]+)", checked.stdout, re.M)
            scores[f"{kind}/{language}"] = float(status.group(1))
    print("\nSpamAssassin scores:", scores)
    assert {name: score for name, score in scores.items() if score > 1.0} == {}


@pytest.mark.parametrize("language", ["sv", "en"])
def test_after_the_deadline_no_email_offers_a_change_and_each_says_whom_to_ask(app, event, language):
    add_invitee(event, "Åsa Öberg-Ståhl", "asa.oberg@example.se", "official", language)
    db.session.commit()
    closed = {"sv": "Svaren kan inte längre ändras med länken. Vill du ändra något, kontakta sekretariatet:",
              "en": "Answers can no longer be changed with the link. To change anything, contact the secretariat:"}
    with time_machine.travel(event.rsvp_deadline + dt.timedelta(days=3), tick=False):  # 18 November
        for kind in ("confirmation", "decline", "moved_up", "day_before"):
            preview = preview_email(event, kind, language)
            for part in (preview.text, preview.html):
                assert "/r/" not in part, kind
                assert not re.search(r"Ändra ditt svar|Change your answer|until|fram till", part), kind
                assert closed[language] in re.sub(r"\s+", " ", part), kind
            assert event.secretariat_phone in preview.text, kind
