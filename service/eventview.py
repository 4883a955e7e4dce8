"""A plain, read-only picture of an event, cached per process, for pages opened often.

The answer page needs the whole event (days, agenda, meals, transport, nights,
diets) for every invitee who opens their link. Reading it from the database
each time costs a dozen queries; this module reads it once and keeps it until
`Event.version` changes, which every change to the event or its parts raises
(see `service.models._bump_event_versions`). The picture has the same
attribute names as the models, so templates and checks read either.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from types import SimpleNamespace
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import selectinload

from .db import db
from .models import Event, EventDay

_CACHE: OrderedDict[tuple, SimpleNamespace] = OrderedDict()
_LOCK = threading.Lock()
_SIZE = 16


def _plain(row: Any, **extra: Any) -> SimpleNamespace:
    values = {column.key: getattr(row, column.key) for column in inspect(row).mapper.column_attrs}
    values.update(extra)
    return SimpleNamespace(**values)


def _picture(event: Event) -> SimpleNamespace:
    days = []
    for day in event.days:
        items = [
            _plain(item, speaker_list=item.speaker_list, role_keys=item.role_keys) for item in day.items
        ]
        days.append(_plain(day, items=items))
    day_by_id = {day.id: day for day in days}
    return _plain(
        event,
        days=days,
        meals=[_plain(meal, day=day_by_id[meal.day_id]) for meal in event.meals],
        transport_options=[_plain(option, day=day_by_id[option.day_id]) for option in event.transport_options],
        hotel_nights=[_plain(night) for night in event.hotel_nights],
        diet_options=[_plain(diet) for diet in event.diet_options],
        roles=[_plain(role) for role in event.roles],
        contacts=[_plain(contact) for contact in event.contacts],
        cache={},  # for things derived from the picture, such as the answer form's class
    )


def event_view(event: Event) -> SimpleNamespace:
    """The plain picture of `event` at its current version (only the event row need be loaded)."""
    # created_at tells apart an event made again under a reused id (SQLite reuses them).
    key = (db.engine.url, event.id, event.version, event.created_at)
    with _LOCK:
        view = _CACHE.get(key)
        if view is not None:
            _CACHE.move_to_end(key)
            return view
    loaded = db.session.scalars(
        db.select(Event).where(Event.id == event.id).options(
            selectinload(Event.days).selectinload(EventDay.items),
            selectinload(Event.meals),
            selectinload(Event.transport_options),
            selectinload(Event.hotel_nights),
            selectinload(Event.diet_options),
            selectinload(Event.roles),
            selectinload(Event.contacts),
        )
    ).one()
    view = _picture(loaded)
    with _LOCK:
        _CACHE[key] = view
        while len(_CACHE) > _SIZE:
            _CACHE.popitem(last=False)
    return view
