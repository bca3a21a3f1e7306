"""The two registries of the event bus, filled in ``AppConfig.ready()``.

Event types (what may be published, with the schema of its payload)::

    class CertificateExpiring(BaseModel):
        model_config = ConfigDict(extra="forbid")
        staff: str
        certificate: str
        expires_on: date

    event_types.register(EventType("hr.certificate.expiring", CertificateExpiring,
                                   label=_("Certificate expiring")))

Subscribers (who hears about which types; ``"clinical.*"`` matches every type under
``clinical.``, ``"*"`` every type)::

    subscribers.register(Subscriber("roster.block_leave_days", ("approvals.leave.approved",),
                                    handle=block_leave_days))

This module imports no models, so that any app's ``apps.py`` may import it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from medoa.core.apierrors import translate_error

from .errors import EventPayloadInvalid, UnknownEventType

if TYPE_CHECKING:
    from .models import Event

# "<app>.<entity>.<past participle>": lowercase words, at least three of them.
NAME_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){2,}")
# A subscriber's pattern: a full name, a prefix ending in ".*", or "*".
PATTERN_RE = re.compile(r"\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?")
SUBSCRIBER_NAME_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
MAX_NAME = 100
DEFAULT_MAX_ATTEMPTS = 8
RETRY_BASE_SECONDS = 5.0
RETRY_MAX_SECONDS = 3600.0


@dataclass(frozen=True)
class EventType:
    """A kind of event: its name, the pydantic model its payload must match, and how people call it.

    ``api_publish``: whether ``POST /api/v1/events`` may publish it (``False`` for events only the
    system itself may raise)."""

    name: str
    payload_schema: type[BaseModel]
    label: Any = ""
    description: Any = ""
    api_publish: bool = True

    def validate(self, payload: Any) -> dict[str, Any]:
        """The payload as stored (JSON-ready, normalised by the schema), or ``EventPayloadInvalid``
        naming every field at fault (``payload.<field>``)."""
        try:
            model = self.payload_schema.model_validate(payload)
        except PydanticValidationError as exc:
            errors = []
            for detail in exc.errors(include_url=False):
                err: dict[str, Any] = {**detail, "loc": ("payload", *detail["loc"])}
                cause = (err.get("ctx") or {}).get("error")
                errors.append(translate_error(err, cause))
            first = errors[0]["field"] if errors else "payload"
            raise EventPayloadInvalid(
                _("The payload does not match the event type %(type)s."),
                params={"type": self.name},
                field=first,
                errors=errors,
            ) from None
        data: dict[str, Any] = model.model_dump(mode="json")
        return data

    def parse(self, payload: dict[str, Any]) -> BaseModel:
        """A stored payload as its schema's model (for handlers that want typed fields)."""
        return self.payload_schema.model_validate(payload)


def retry_delay(attempts: int) -> float:
    """Seconds to wait before the next try after ``attempts`` failed ones: 5 s, 10 s, 20 s …,
    at most an hour."""
    return float(min(RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS))


@dataclass(frozen=True)
class Subscriber:
    """Something that reacts to events: ``handle(event)`` runs in the worker, in one transaction
    with marking its delivery done, at least once per event (so it must be idempotent by
    ``event.pk`` for effects outside the database). ``event_types`` holds names or patterns
    (``"clinical.*"``, ``"*"``). After ``max_attempts`` failures a delivery is dead."""

    name: str
    event_types: tuple[str, ...]
    handle: Callable[[Event], None]
    label: Any = ""
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    retry_delay: Callable[[int], float] = field(default=retry_delay)

    def matches(self, type_name: str) -> bool:
        return any(_matches(pattern, type_name) for pattern in self.event_types)


def _matches(pattern: str, type_name: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return type_name.startswith(pattern[:-1])
    return pattern == type_name


class EventTypeRegistry:
    def __init__(self) -> None:
        self._items: dict[str, EventType] = {}

    def register(self, event_type: EventType) -> EventType:
        name = event_type.name
        if len(name) > MAX_NAME or not NAME_RE.fullmatch(name):
            raise ValueError(
                f"event type {name!r}: name it '<app>.<entity>.<past participle>' (lowercase, "
                f"at most {MAX_NAME} characters)"
            )
        if not (
            isinstance(event_type.payload_schema, type) and issubclass(event_type.payload_schema, BaseModel)
        ):
            raise TypeError(f"event type {name!r}: payload_schema must be a pydantic model class")
        known = self._items.get(name)
        if known is not None and known != event_type:
            raise ValueError(f"event types: {name!r} is already registered")
        self._items[name] = event_type
        return event_type

    def get(self, name: str) -> EventType:
        """The registered type, or ``UnknownEventType`` (field ``type``)."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise UnknownEventType(
                _("Unknown event type: %(type)s."), params={"type": str(name)[:MAX_NAME]}, field="type"
            ) from None

    def unregister(self, name: str) -> None:
        """For tests that register a type of their own."""
        self._items.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[EventType]:
        return iter(sorted(self._items.values(), key=lambda t: t.name))

    def __len__(self) -> int:
        return len(self._items)


class SubscriberRegistry:
    def __init__(self) -> None:
        self._items: dict[str, Subscriber] = {}
        self._by_type: dict[str, tuple[Subscriber, ...]] = {}
        self._lock = threading.Lock()

    def register(self, subscriber: Subscriber) -> Subscriber:
        name = subscriber.name
        if len(name) > MAX_NAME or not SUBSCRIBER_NAME_RE.fullmatch(name):
            raise ValueError(f"subscriber {name!r}: name it '<app>.<what it does>' (lowercase, dotted)")
        if isinstance(subscriber.event_types, str) or not subscriber.event_types:
            raise ValueError(
                f"subscriber {name!r}: event_types must be a non-empty tuple of names or patterns"
            )
        for pattern in subscriber.event_types:
            if not PATTERN_RE.fullmatch(pattern):
                raise ValueError(f"subscriber {name!r}: {pattern!r} is not an event type name or pattern")
        if subscriber.max_attempts < 1:
            raise ValueError(f"subscriber {name!r}: max_attempts must be at least 1")
        with self._lock:
            known = self._items.get(name)
            if known is not None and known != subscriber:
                raise ValueError(f"subscribers: {name!r} is already registered")
            self._items[name] = subscriber
            self._by_type.clear()
        return subscriber

    def unregister(self, name: str) -> None:
        """For tests that register a subscriber of their own."""
        with self._lock:
            self._items.pop(name, None)
            self._by_type.clear()

    def get(self, name: str) -> Subscriber | None:
        return self._items.get(name)

    def for_type(self, type_name: str) -> tuple[Subscriber, ...]:
        """The subscribers that hear ``type_name``, in registration order (cached per type)."""
        found = self._by_type.get(type_name)
        if found is None:
            found = tuple(s for s in self._items.values() if s.matches(type_name))
            self._by_type[type_name] = found
        return found

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[Subscriber]:
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)


event_types = EventTypeRegistry()
subscribers = SubscriberRegistry()
