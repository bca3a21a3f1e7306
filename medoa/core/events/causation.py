"""Which event is being handled right now (in this thread or task): ``publish`` records it as the
new event's ``cause``, one level deeper, so that chains of reactions can be followed and bounded
(the rules engine stops a rule that would trigger itself)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Event

_current: ContextVar[Event | None] = ContextVar("medoa_event_being_handled", default=None)


def current_event() -> Event | None:
    """The event whose handler is running here, or ``None``."""
    return _current.get()


@contextmanager
def handling(event: Event) -> Iterator[None]:
    token = _current.set(event)
    try:
        yield
    finally:
        _current.reset(token)
