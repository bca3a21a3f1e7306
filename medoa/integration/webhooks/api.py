"""Webhook subscriptions over REST (mounted at /api/v1/integration/webhooks); people with
``integration.webhook.manage`` (roles ``it`` and ``sys_admin`` by default).

``GET ""`` list · ``POST ""`` create (answers the secret once) · ``GET /{id}`` ·
``PUT /{id}`` change · ``POST /{id}/enable`` · ``POST /{id}/disable`` · ``POST /{id}/test`` (send a
test event now; answers the attempt) · ``GET /{id}/attempts`` the delivery log, newest first.
A refused input answers 422 naming the field (``name``, ``event_types``, ``url``, ``secret``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError

from medoa.core.access.models import User
from medoa.core.apierrors import ErrorOut, InvalidOut, in_both

from . import selectors, services
from .models import DeliveryAttempt, Subscription

router = Router(tags=["webhooks"])


class SubscriptionIn(Schema):
    name: str = Field(..., max_length=100)
    event_types: list[str] = Field(..., description="event type names, prefix.* patterns or *")
    url: str = Field(..., max_length=500, description="http(s) URL the events are POSTed to")
    secret: str | None = Field(None, max_length=200, description="HMAC key; generated when omitted")


class SubscriptionOut(Schema):
    id: int
    name: str
    event_types: list[str]
    url: str
    owner: str
    enabled: bool
    failure_count: int
    disabled_at: datetime | None
    disabled_reason: str
    last_success_at: datetime | None
    last_failure_at: datetime | None
    created_at: datetime


class SubscriptionCreatedOut(SubscriptionOut):
    secret: str = Field(..., description="shown once: sign checks use it")


class AttemptOut(Schema):
    id: int
    delivery: int | None
    event_id: str
    attempted_at: datetime
    status_code: int | None
    duration_ms: int
    ok: bool
    error: str
    test: bool


class AttemptPageOut(Schema):
    count: int
    items: list[AttemptOut]


class PageQuery(Schema):
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=10_000_000)


ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: InvalidOut}


def _responses(ok: dict[int, Any], *codes: int) -> dict[int, Any]:
    return {**ok, **{code: ERRORS[code] for code in (401, 403, *codes)}}


def _user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        zh, en = in_both("Authentication required: send a valid bearer token.")
        error = HttpError(401, zh)
        error.extra = {"detail": zh, "detail_en": en}  # type: ignore[attr-defined]
        raise error
    return user


def _invalid(exc: services.WebhookError) -> HttpError:
    zh, en = in_both(exc.message)
    errors = []
    for field, message in exc.errors:
        m_zh, m_en = in_both(message)
        errors.append({"field": field, "message": m_zh, "message_en": m_en, "type": "invalid"})
    error = HttpError(422, zh)
    error.extra = {"detail": zh, "detail_en": en, "errors": errors}  # type: ignore[attr-defined]
    return error


def _out(sub: Subscription) -> dict[str, Any]:
    return {
        "id": sub.pk,
        "name": sub.name,
        "event_types": list(sub.event_types),
        "url": sub.url,
        "owner": sub.owner.get_username(),
        "enabled": sub.enabled,
        "failure_count": sub.failure_count,
        "disabled_at": sub.disabled_at,
        "disabled_reason": sub.disabled_reason,
        "last_success_at": sub.last_success_at,
        "last_failure_at": sub.last_failure_at,
        "created_at": sub.created_at,
    }


def _attempt_out(a: DeliveryAttempt) -> dict[str, Any]:
    return {
        "id": a.pk,
        "delivery": a.delivery_id,
        "event_id": a.event_id_sent,
        "attempted_at": a.attempted_at,
        "status_code": a.status_code,
        "duration_ms": a.duration_ms,
        "ok": a.ok,
        "error": a.error,
        "test": a.test,
    }


@router.get("", response=_responses({200: list[SubscriptionOut]}), summary="Webhook subscriptions")
def subscriptions_list(request: HttpRequest) -> Any:
    return [_out(s) for s in selectors.subscription_list(user=_user(request))]


@router.post(
    "",
    response=_responses({201: SubscriptionCreatedOut}, 422),
    summary="Create a subscription (secret shown once)",
)
def subscriptions_create(request: HttpRequest, payload: SubscriptionIn) -> Any:
    user = _user(request)
    try:
        sub, secret = services.subscription_create(
            actor=user,
            name=payload.name,
            event_types=payload.event_types,
            url=payload.url,
            secret=payload.secret,
        )
    except services.WebhookError as exc:
        raise _invalid(exc) from None
    return Status(201, {**_out(sub), "secret": secret})


@router.get(
    "/{int:subscription_id}", response=_responses({200: SubscriptionOut}, 404), summary="One subscription"
)
def subscriptions_get(request: HttpRequest, subscription_id: int) -> Any:
    return _out(selectors.subscription_get(user=_user(request), subscription_id=subscription_id))


@router.put(
    "/{int:subscription_id}",
    response=_responses({200: SubscriptionOut}, 404, 422),
    summary="Change a subscription",
)
def subscriptions_update(request: HttpRequest, subscription_id: int, payload: SubscriptionIn) -> Any:
    user = _user(request)
    sub = selectors.subscription_get(user=user, subscription_id=subscription_id)
    try:
        sub = services.subscription_update(
            actor=user,
            subscription=sub,
            name=payload.name,
            event_types=payload.event_types,
            url=payload.url,
            secret=payload.secret,
        )
    except services.WebhookError as exc:
        raise _invalid(exc) from None
    return _out(sub)


def _set_enabled(request: HttpRequest, subscription_id: int, enabled: bool) -> Any:
    user = _user(request)
    sub = selectors.subscription_get(user=user, subscription_id=subscription_id)
    return _out(services.subscription_set_enabled(actor=user, subscription=sub, enabled=enabled))


@router.post(
    "/{int:subscription_id}/enable",
    response=_responses({200: SubscriptionOut}, 404),
    summary="Enable (the failure count starts again)",
)
def subscriptions_enable(request: HttpRequest, subscription_id: int) -> Any:
    return _set_enabled(request, subscription_id, True)


@router.post(
    "/{int:subscription_id}/disable", response=_responses({200: SubscriptionOut}, 404), summary="Disable"
)
def subscriptions_disable(request: HttpRequest, subscription_id: int) -> Any:
    return _set_enabled(request, subscription_id, False)


@router.post(
    "/{int:subscription_id}/test",
    response=_responses({200: AttemptOut}, 404),
    summary="Send a test event now (signed like the others)",
)
def subscriptions_test(request: HttpRequest, subscription_id: int) -> Any:
    user = _user(request)
    sub = selectors.subscription_get(user=user, subscription_id=subscription_id)
    return _attempt_out(services.subscription_test_send(actor=user, subscription=sub))


@router.get(
    "/{int:subscription_id}/attempts",
    response=_responses({200: AttemptPageOut}, 404, 422),
    summary="The delivery log: every attempt, newest first",
)
def subscriptions_attempts(request: HttpRequest, subscription_id: int, query: Query[PageQuery]) -> Any:
    user = _user(request)
    sub = selectors.subscription_get(user=user, subscription_id=subscription_id)
    qs = selectors.attempt_list(user=user, subscription=sub)
    return {
        "count": qs.count(),
        "items": [_attempt_out(a) for a in qs[query.offset : query.offset + query.limit]],
    }
