"""The event bus's REST API (mounted at /api/v1/events).

``POST /events`` — publish ``{"type", "payload", "key"?}`` → 202 with the event's id; the same key
again → the same id (202), nothing delivered twice; the same key with another type or payload →
409. Needs ``events.publish``; an unknown type or a payload that does not match its schema → 422
naming the field (``type``, ``payload.<field>``).
``GET /events`` — the log (filters: ``type`` (a name or ``prefix.*``), ``status``, ``since``,
``until``, ``key``; paged); ``GET /events/{id}`` — one event with every delivery;
``POST /events/deliveries/{id}/redeliver``. Need ``events.view`` (redeliver: ``events.redeliver``).

Who may publish is decided in ``_authorize_publish`` alone. People hold ``events.publish`` through
their roles; a system API key (``Authorization: Bearer msk_…`` or ``X-API-Key``) is accepted for
the event types its scopes name (``events:publish:<type pattern>``, e.g. ``events:publish:hr.*``);
the event then records ``key:<key name>`` as its publisher.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError

from medoa.core.access.api_auth import BearerAuth, SystemKeyAuth, request_system_key
from medoa.core.access.models import User
from medoa.core.access.policy import has_perm
from medoa.core.access.system_keys import key_allows, system_key_actor_name
from medoa.core.apierrors import ErrorOut, InvalidOut, in_both

from . import selectors, services
from .choices import DeliveryStatus
from .errors import DeliveryNotRedeliverable, EventError, EventKeyConflict
from .models import Delivery, Event
from .registry import EventType, event_types

router = Router(tags=["events"])


class EventIn(Schema):
    type: str = Field(..., min_length=1, max_length=100, description="a registered event type")
    payload: dict[str, Any] = Field(..., description="matches the event type's payload schema")
    key: str | None = Field(
        None,
        min_length=1,
        max_length=services.MAX_KEY,
        description="idempotency key: the same key, the same event",
    )


class EventAcceptedOut(Schema):
    id: int
    type: str
    key: str | None
    created_at: datetime


class DeliveryOut(Schema):
    id: int
    subscriber: str
    status: str
    attempts: int
    last_error: str
    next_attempt_at: datetime | None
    delivered_at: datetime | None


class EventOut(Schema):
    id: int
    type: str
    key: str | None
    payload: dict[str, Any]
    actor: str
    created_at: datetime
    cause: int | None = Field(..., description="the event whose handler published this one")
    depth: int = Field(..., description="steps of reactions from an event nobody's reaction caused")
    deliveries: dict[str, int] = Field(..., description="deliveries per status")


class EventDetailOut(EventOut):
    delivery_list: list[DeliveryOut]


class EventPageOut(Schema):
    count: int
    items: list[EventOut]


class EventQuery(Schema):
    type: str = Field("", max_length=100, description="an event type, or a prefix ending in '.*'")
    status: DeliveryStatus | None = Field(None, description="events with a delivery in this status")
    since: datetime | None = None
    until: datetime | None = None
    key: str = Field("", max_length=services.MAX_KEY)
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=10_000_000)


ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: InvalidOut, 422: InvalidOut}


def _responses(ok: dict[int, Any], *codes: int) -> dict[int, Any]:
    return {**ok, **{code: ERRORS[code] for code in (401, *codes)}}


def _http_error(status: int, message: Any, params: dict[str, Any] | None = None, **extra: Any) -> HttpError:
    zh, en = in_both(message, params)
    error = HttpError(status, zh)
    error.extra = {"detail": zh, "detail_en": en, **extra}  # type: ignore[attr-defined]
    return error


def _from_event_error(exc: EventError) -> HttpError:
    status = 409 if isinstance(exc, EventKeyConflict | DeliveryNotRedeliverable) else 422
    errors = exc.errors
    if not errors and exc.field:
        zh, en = in_both(exc.message, exc.params)
        errors = [{"field": exc.field, "message": zh, "message_en": en, "type": "invalid"}]
    return _http_error(status, exc.message, exc.params, errors=errors)


def _user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        raise _http_error(401, _("Authentication required: send a valid bearer token."))
    return user


def _forbidden() -> HttpError:
    return _http_error(403, _("You do not have permission to do this."))


def _authorize_publish(request: HttpRequest, type_name: str) -> tuple[User | None, str, EventType]:
    """Who publishes (``actor``, ``actor_name``) and the event type, or 403 / 422.

    A person needs ``events.publish``; a system API key needs a scope ``events:publish:<pattern>``
    matching ``type_name`` (its ``actor_name`` being ``key:<key name>``). The type must be
    registered and open to the API.
    """
    key = request_system_key(request) if not isinstance(getattr(request, "auth", None), User) else None
    if key is not None:
        if not key_allows(key, f"events:publish:{type_name}"):
            raise _http_error(
                403,
                _("This API key may not publish events of type “%(type)s” (it needs the scope %(scope)s)."),
                {"type": type_name, "scope": f"events:publish:{type_name}"},
            )
        user: User | None = None
        actor_name = system_key_actor_name(key)
    else:
        user = _user(request)
        if not has_perm(user, services.PERM_PUBLISH):
            raise _forbidden()
        actor_name = ""
    try:
        event_type = event_types.get(type_name)
    except EventError as exc:
        raise _from_event_error(exc) from None
    if not event_type.api_publish:
        raise _http_error(403, _("This event type cannot be published through the API."))
    return user, actor_name, event_type


def _counts(event: Event) -> dict[str, int]:
    return {s.value: int(getattr(event, f"n_{s.value}", 0)) for s in DeliveryStatus}


def _event_out(event: Event, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": event.pk,
        "type": event.type,
        "key": event.key,
        "payload": event.payload,
        "actor": event.actor_name,
        "created_at": event.created_at,
        "cause": event.cause_id,
        "depth": event.depth,
        "deliveries": counts,
    }


def _delivery_out(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.pk,
        "subscriber": d.subscriber,
        "status": d.status,
        "attempts": d.attempts,
        "last_error": d.last_error,
        "next_attempt_at": d.next_attempt_at
        if d.status in (DeliveryStatus.PENDING, DeliveryStatus.FAILED)
        else None,
        "delivered_at": d.delivered_at,
    }


@router.post(
    "",
    auth=[BearerAuth(), SystemKeyAuth()],
    response=_responses({202: EventAcceptedOut}, 403, 409, 422),
    summary="Publish an event: validated against its type's schema, delivered after commit",
)
def events_publish(request: HttpRequest, payload: EventIn) -> Any:
    actor, actor_name, event_type = _authorize_publish(request, payload.type)
    try:
        event = services.publish(
            event_type.name, payload.payload, key=payload.key, actor=actor, actor_name=actor_name
        )
    except EventError as exc:
        raise _from_event_error(exc) from None
    return Status(202, {"id": event.pk, "type": event.type, "key": event.key, "created_at": event.created_at})


@router.get("", response=_responses({200: EventPageOut}, 403, 422), summary="The event log (newest first)")
def events_list(request: HttpRequest, query: Query[EventQuery]) -> Any:
    user = _user(request)
    filters = selectors.EventFilter(
        type=query.type,
        status=query.status.value if query.status else "",
        since=query.since,
        until=query.until,
        key=query.key,
    )
    qs = selectors.event_list(user=user, filters=filters)
    count = qs.count()
    items = [_event_out(e, _counts(e)) for e in qs[query.offset : query.offset + query.limit]]
    return {"count": count, "items": items}


@router.get("/{int:event_id}", response=_responses({200: EventDetailOut}, 403, 404), summary="One event")
def events_get(request: HttpRequest, event_id: int) -> Any:
    event = selectors.event_get(user=_user(request), event_id=event_id)
    deliveries = list(event.deliveries.all())
    counts = {s.value: sum(1 for d in deliveries if d.status == s) for s in DeliveryStatus}
    return {**_event_out(event, counts), "delivery_list": [_delivery_out(d) for d in deliveries]}


@router.post(
    "/deliveries/{int:delivery_id}/redeliver",
    response=_responses({200: DeliveryOut}, 403, 404, 409),
    summary="Run a failed or dead delivery again (audited)",
)
def deliveries_redeliver(request: HttpRequest, delivery_id: int) -> Any:
    user = _user(request)
    if not has_perm(user, services.PERM_REDELIVER):
        raise _forbidden()
    delivery = selectors.delivery_get(user=user, delivery_id=delivery_id)
    try:
        delivery = services.delivery_redeliver(actor=user, delivery=delivery)
    except EventError as exc:
        raise _from_event_error(exc) from None
    return _delivery_out(delivery)
