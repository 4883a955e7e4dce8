"""Rendering emails: the one place that turns a kind, a language and a context into a
subject, a readable text part and an HTML part with its CSS inlined.

Each kind has one text template and one HTML template in `email_templates/` (`<kind>.txt`,
`<kind>.html`), written in English with every sentence in `_()`; the recipient's
language comes from the catalogue (`force_locale`). A text template sets its subject
with `{% set subject = ... %}` on its first line; the HTML ones extend `base.html`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import css_inline
from flask_babel import force_locale, gettext, ngettext
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ..answers import localized
from ..dates import event_dates

EMAIL_TEMPLATES = Path(__file__).resolve().parents[2] / "email_templates"

#: Every kind OSA sends, in the order the secretariat meets them.
KINDS = ("invitation", "confirmation", "decline", "moved_up", "reminder", "day_before", "event_change",
         "daily_report", "hotel_final", "hotel_change", "retention_problem")
LANGUAGES = ("sv", "en")

_environment = Environment(
    loader=FileSystemLoader(EMAIL_TEMPLATES),
    autoescape=select_autoescape(("html",)),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    extensions=["jinja2.ext.i18n"],
)
_environment.install_gettext_callables(gettext, ngettext, newstyle=True)
_inliner = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render_email(kind: str, language: str, **context) -> RenderedEmail:
    """Render one email of `kind` in `language` (Swedish when OSA does not speak it)."""
    if kind not in KINDS:
        raise ValueError(f"unknown email kind {kind!r}")
    language = language if language in LANGUAGES else "sv"
    event = context["event"]
    # `{dates}` in a description is the event's dates as they stand (a moved event says its new ones).
    dates = event_dates(event, language)
    context.update(event_name=localized(event, "name", language), dates=dates,
                   event_description=localized(event, "description", language).replace("{dates}", dates),
                   event_address=localized(event, "address", language),
                   hotel_address=localized(event, "hotel_address", language))
    with force_locale(language):
        module = _environment.get_template(f"{kind}.txt").make_module(context)
        subject = " ".join(str(module.subject).split())
        text = _BLANK_LINES.sub("\n\n", str(module)).strip() + "\n"
        html = _environment.get_template(f"{kind}.html").render(
            subject=subject, language=language, text_body=text, **context
        )
    return RenderedEmail(subject, text, _inliner.inline(html))
