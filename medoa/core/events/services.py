"""Writes of the event bus: ``publish`` (the outbox row, in the caller's transaction),
``publish_many`` (a batch's events in two statements) and ``delivery_redeliver`` (an
administrator's second chance for a failed or dead delivery)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, models, transaction
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
    actor_name = actor_name[:150]
    actor_id = actor.pk if actor is not None else None
    cause_id = cause.pk if cause is not None else None
    with transaction.atomic(savepoint=False):
        ids = insert_rows(
            Event,
            ("type", "payload", "actor", "actor_name", "cause", "depth", "created_at"),
            [(type, data, actor_id, actor_name, cause_id, depth, now) for type, data in validated],
            returning=True,
        )
        deliveries = [
            (pk, s.name, now)
            for pk, (type, _data) in zip(ids, validated, strict=True)
            for s in subscribers.for_type(type)
        ]
        if deliveries:
            insert_rows(Delivery, ("event", "subscriber", "next_attempt_at"), deliveries)
            announce()
    return [
        Event(
            pk=pk,
            type=type,
            payload=data,
            actor_id=actor_id,
            actor_name=actor_name,
            cause_id=cause_id,
            depth=depth,
            created_at=now,
        )
        for pk, (type, data) in zip(ids, validated, strict=True)
    ]


INSERT_PARAMETERS = 20_000  # per statement at most (and the database's own limit)


def insert_rows(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    returning: bool = False,
) -> list[int]:
    """Insert ``rows`` (values of ``fields``, in that order; the model's other fields get their
    defaults) with multi-row ``INSERT … VALUES`` statements of at most ``INSERT_PARAMETERS``
    parameters (or the database's limit); with ``returning``, the new ids in the rows' order.
    For batch writers: several times less work than ``bulk_create`` (which builds a model instance
    per row and, on PostgreSQL, one array per column)."""
    if not rows:
        return []
    meta = model._meta
    qn = connection.ops.quote_name
    given = []
    for name in fields:
        field = meta.get_field(name)
        assert isinstance(field, models.Field)
        given.append(field)
    others = [f for f in meta.concrete_fields if not f.primary_key and f not in given]
    columns = [*given, *others]
    defaults = [f.get_db_prep_save(f.get_default(), connection) for f in others]
    pk = meta.pk
    assert pk is not None
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    limit = min(INSERT_PARAMETERS, connection.features.max_query_params or INSERT_PARAMETERS)
    per_statement = max(1, limit // len(columns))
    # identifiers from the model's meta, quoted; every value is a parameter
    head = f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(c.column or c.name) for c in columns)}) VALUES "  # noqa: S608
    tail = f" RETURNING {qn(pk.column or pk.name)}" if returning else ""
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params: list[Any] = []
            for row in chunk:
                params += [f.get_db_prep_save(v, connection) for f, v in zip(given, row, strict=True)]
                params += defaults
            cursor.execute(head + ", ".join([one] * len(chunk)) + tail, params)
            if returning:
                ids += [r[0] for r in cursor.fetchall()]
    return ids


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
