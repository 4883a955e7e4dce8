"""The `osa` command: Flask's CLI (`osa db upgrade`, `osa run`) plus OSA's own commands.

    osa event load FILE        validate an event file and create or update the event
    osa event show [--lang]    print the event back, times in its timezone
    osa invitees import FILE   import invitees from CSV or XLSX (all or nothing)
"""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import FlaskGroup

from .db import db
from .eventfile import EventFileError, read_event_file
from .events import describe_event, get_event, store_event
from .invitees import InviteeFileError, import_invitees


def _event_or_fail(slug: str | None):
    event = get_event(slug)
    if event is None:
        hint = f"no event '{slug}'" if slug else "no event is loaded"
        raise click.ClickException(f"{hint}; load one with: osa event load config/events/<file>.toml")
    return event


event_cli = click.Group("event", help="Define the event from its TOML file.")
invitees_cli = click.Group("invitees", help="Import and list invitees.")


@event_cli.command("load")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--starts-in", "starts_in", type=click.IntRange(min=0), metavar="DAYS",
    help="Move the event by whole weeks (same weekdays and times) so it starts at least DAYS days from today.",
)
def load_event_command(file: Path, starts_in: int | None) -> None:
    """Validate FILE and create or update its event."""
    try:
        definition = read_event_file(file, starts_in_days=starts_in)
        result = store_event(definition)
    except EventFileError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    db.session.commit()
    state = "created" if result.created else ("updated" if result.changed else "unchanged")
    event = result.event
    items = sum(len(day.items) for day in event.days)
    click.echo(
        f"Event '{event.slug}' {state}: {len(event.days)} days, {items} agenda items, "
        f"{len(event.meals)} meals, {len(event.transport_options)} transport options, "
        f"{len(event.hotel_nights)} hotel nights."
    )


@event_cli.command("show")
@click.option("--event", "slug", help="The event's id (default: the newest event).")
@click.option("--lang", type=click.Choice(["sv", "en"]), default="sv", show_default=True)
def show_event_command(slug: str | None, lang: str) -> None:
    """Print the event: days, agenda, meals, transport, hotel nights."""
    click.echo(describe_event(_event_or_fail(slug), lang))


@invitees_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--event", "slug", help="The event's id (default: the newest event).")
def import_invitees_command(file: Path, slug: str | None) -> None:
    """Import invitees from a CSV or XLSX FILE. Any bad row: nothing is imported."""
    event = _event_or_fail(slug)
    try:
        result = import_invitees(event, file.name, file.read_bytes())
    except InviteeFileError as error:
        db.session.rollback()
        raise click.ClickException(f"{file}: {error}") from None
    db.session.commit()
    click.echo(f"{file.name}: {result}.")


def register(app: Flask) -> None:
    """Add OSA's commands to the app's CLI."""
    app.cli.add_command(event_cli)
    app.cli.add_command(invitees_cli)


def _create_app() -> Flask:
    from . import create_app

    return create_app()


main = FlaskGroup(
    name="osa",
    create_app=_create_app,
    add_default_commands=True,
    help="OSA: invitations, RSVP and headcounts for meetings.",
)
