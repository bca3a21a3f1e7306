"""Writes of the event bus: ``publish`` (the outbox row, in the caller's transaction),
``publish_many`` (a batch's events in two statements) and ``delivery_redeliver`` (an
administrator's second chance for a failed or dead delivery)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from medoa.core.access.policy import has_perm
from medoa.core.audit.services import audit_record

from .causation import current_event
from .choices import DeliveryStatus
from .errors import DeliveryNotRedeliverable, EventError, EventKeyConflict
from .models import Delivery, Event
from .registry import event_types, subscribers
from .wakeup import announce

MAX_KEY = 200
PERM_PUBLISH = "events.publish"
PERM_VIEW = "events.view"
PERM_REDELIVER = "events.redeliver"


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise EventError(
            _("The key must be 1 to %(max)s printable characters."), params={"max": MAX_KEY}, field="key"
        )


def _same_event(event: Event, type: str, payload: dict[str, Any]) -> Event:
    if event.type != type or event.payload != payload:
        raise EventKeyConflict(
            _("This key was used before for another event (%(type)s #%(id)s)."),
            params={"type": event.type, "id": event.pk},
            field="key",
        )
    return event


def publish(
    type: str,
    payload: Any,
    *,
    key: str | None = None,
    actor: Any = None,
    actor_name: str = "",
) -> Event:
    """Record that ``type`` happened, with ``payload``, in the caller's transaction.

    The payload is validated against the type's schema first (``UnknownEventType``,
    ``EventPayloadInvalid`` naming the fields; nothing written). One ``Delivery`` per subscriber of
    the type is written with the event; the worker runs them after commit (a rollback takes the
    event and its deliveries with it). With ``key``, a second publish gives back the first event
    and delivers nothing again; the same key with another type or payload is ``EventKeyConflict``.
    ``actor`` is the user who caused it (``None``: the system); ``actor_name`` names a system.
    Published from inside a subscriber's handler, the event records the handled event as its
    ``cause`` and lies one ``depth`` deeper.
    """
    event_type = event_types.get(type)
    data = event_type.validate(payload)
    if key is not None:
        _check_key(key)
    if actor is not None and not actor_name:
        actor_name = actor.get_username()
    cause = current_event()
    fields = {
        "type": type,
        "payload": data,
        "actor": actor,
        "actor_name": actor_name[:150],
        "cause": cause,
        "depth": min(cause.depth + 1, 32767) if cause is not None else 0,
    }
    # Without a key, no savepoint of its own (two round trips per event): an error here is a
    # database error that aborts the caller's transaction anyway; outside one, this opens one for
    # the event and its rows. With a key, a refusal (EventKeyConflict) must leave the caller's
    # transaction usable, so that path keeps its savepoint.
    with transaction.atomic(savepoint=key is not None):
        if key is None:
            event = Event.objects.create(**fields)
        else:
            existing = Event.objects.filter(key=key).first()
            if existing is not None:
                return _same_event(existing, type, data)
            try:
                with transaction.atomic():  # a savepoint: a concurrent insert of the key loses here
                    event = Event.objects.create(key=key, **fields)
            except IntegrityError:
                return _same_event(Event.objects.get(key=key), type, data)
        hearing = subscribers.for_type(type)
        if hearing:
            now = event.created_at
            Delivery.objects.bulk_create(
                [Delivery(event=event, subscriber=s.name, next_attempt_at=now) for s in hearing]
            )
            announce()
    return event


def publish_many(
    events: Sequence[tuple[str, Any]], *, actor: Any = None, actor_name: str = ""
) -> list[Event]:
    """``publish`` for many events without keys, in the caller's transaction: every payload is
    validated first (the first invalid one raises, nothing written), then ONE insert writes the
    events (in the given order: their ids ascend in it) and ONE the deliveries of all of them, and
    one ``NOTIFY`` goes out — instead of two statements per event. A batch processor's path (the
    HL7 processor's); everything else ``publish`` says holds, cause and depth included."""
    if not events:
        return []
    validated = [(type, event_types.get(type).validate(payload)) for type, payload in events]
    if actor is not None and not actor_name:
        actor_name = actor.get_username()
    cause = current_event()
    depth = min(cause.depth + 1, 32767) if cause is not None else 0
    now = timezone.now()
    rows = [
        Event(
            type=type,
            payload=data,
            actor=actor,
            actor_name=actor_name[:150],
            cause=cause,
            depth=depth,
            created_at=now,
        )
        for type, data in validated
    ]
    with transaction.atomic(savepoint=False):
        Event.objects.bulk_create(rows)
        if any(row.pk is None for row in rows):  # a backend that returns no ids from a bulk insert
            raise EventError(_("This database cannot publish events in bulk."))
        deliveries = [
            Delivery(event=row, subscriber=s.name, next_attempt_at=now)
            for row in rows
            for s in subscribers.for_type(row.type)
        ]
        if deliveries:
            Delivery.objects.bulk_create(deliveries)
            announce()
    return rows


@transaction.atomic
def delivery_redeliver(*, actor: Any, delivery: Delivery) -> Delivery:
    """Run a failed or dead delivery again, now, with a fresh count of attempts (audited).
    A delivered one is refused: a delivered event never runs its handler again."""
    if not has_perm(actor, PERM_REDELIVER):
        raise PermissionDenied
    locked = Delivery.objects.select_for_update().select_related("event").get(pk=delivery.pk)
    if locked.status not in (DeliveryStatus.FAILED, DeliveryStatus.DEAD):
        raise DeliveryNotRedeliverable(
            _("Only a failed or dead delivery can be redelivered; this one is %(status)s."),
            params={"status": DeliveryStatus(locked.status).label},
            field="status",
        )
    details = {
        "event": locked.event_id,
        "event_type": locked.event.type,
        "subscriber": locked.subscriber,
        "previous_status": locked.status,
        "previous_attempts": locked.attempts,
        "last_error": locked.last_error[-500:],
    }
    locked.status = DeliveryStatus.PENDING
    locked.attempts = 0
    locked.next_attempt_at = timezone.now()
    locked.claimed_by = ""
    locked.claimed_until = None
    locked.save(update_fields=["status", "attempts", "next_attempt_at", "claimed_by", "claimed_until"])
    announce()
    audit_record(
        actor=actor,
        action="events.delivery.redelivered",
        target=("events.delivery", locked.pk, str(locked)),
        details=details,
    )
    return locked
