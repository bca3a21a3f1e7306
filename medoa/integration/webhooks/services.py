"""Webhook subscriptions (create, change, enable/disable, test send) and their delivery.

Delivery is at least once, through the event bus's outbox: the bus's subscriber
``webhooks.fan_out`` hears every event and writes one ``WebhookDelivery`` per enabled
subscription whose patterns match (in the bus's delivery transaction, idempotent by
(subscription, event), no network). The webhook sender (``deliver_due``, run by the worker's
``SenderThread``) then claims due deliveries with a lease in a short transaction, POSTs them with
no transaction open and no row locked, and records each attempt in another short transaction:
send, then record. A worker killed between the two sends again after the lease (at least once:
receivers dedupe by ``X-MedOA-Event-Id``).

Retries: after the n-th failed attempt the next one waits ``MEDOA_WEBHOOKS_RETRY_BASE_SECONDS``
× 2^(n-1) (default 10 s, 20 s, 40 s …, at most an hour); after ``MEDOA_WEBHOOKS_MAX_ATTEMPTS``
(default 8) the delivery is given up (dead). A subscription whose attempts fail
``MEDOA_WEBHOOKS_MAX_FAILURES`` times in a row (default 10) is disabled and its owner notified;
its waiting deliveries stay and go out when it is enabled again.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from medoa.core.access.policy import has_perm
from medoa.core.audit.services import audit_record
from medoa.core.errors import ServiceError, fmt
from medoa.core.events.models import Event
from medoa.core.events.registry import PATTERN_RE, event_types
from medoa.core.notify.services import notification_send

from . import sender
from .models import DeliveryAttempt, DeliveryStatus, Subscription, WebhookDelivery

log = logging.getLogger("medoa.integration.webhooks")

PERM_MANAGE = "integration.webhook.manage"
MAX_PATTERNS = 50
MIN_SECRET = 16
DEFAULT_MAX_FAILURES = 10
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_RETRY_BASE = 10.0
RETRY_MAX = 3600.0
LEASE_SECONDS = 120.0
BATCH = 20
PARALLEL = 4
CACHE_SECONDS = 5.0
TEST_EVENT_TYPE = "webhooks.test.sent"


class WebhookError(ServiceError):
    default_message = _("The webhook subscription is not valid.")


def max_failures() -> int:
    return int(getattr(settings, "MEDOA_WEBHOOKS_MAX_FAILURES", DEFAULT_MAX_FAILURES))


def max_attempts() -> int:
    return int(getattr(settings, "MEDOA_WEBHOOKS_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))


def retry_delay(attempts: int) -> float:
    base = float(getattr(settings, "MEDOA_WEBHOOKS_RETRY_BASE_SECONDS", DEFAULT_RETRY_BASE))
    return float(min(base * 2 ** max(attempts - 1, 0), RETRY_MAX))


def _require(actor: Any) -> None:
    if not has_perm(actor, PERM_MANAGE):
        raise PermissionDenied


# --- the subscriptions cache (the fan-out runs for every event) --------------------------------------

_cache_lock = threading.Lock()
_cache: dict[str, Any] = {"at": 0.0, "items": None}


def forget_subscriptions() -> None:
    """Drop this process's cached list of enabled subscriptions (now and after commit)."""
    with _cache_lock:
        _cache["items"] = None
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: _cache.__setitem__("items", None))


def _enabled_subscriptions() -> list[tuple[int, tuple[str, ...]]]:
    import time

    now = time.monotonic()
    with _cache_lock:
        items = _cache["items"]
        if items is not None and now - _cache["at"] < CACHE_SECONDS:
            return list(items)
    rows = [
        (pk, tuple(types or ()))
        for pk, types in Subscription.objects.filter(enabled=True).values_list("id", "event_types")
    ]
    with _cache_lock:
        _cache["items"] = rows
        _cache["at"] = now
    return rows


def matches(patterns: Iterable[str], type_name: str) -> bool:
    for pattern in patterns:
        if pattern == "*" or pattern == type_name:
            return True
        if pattern.endswith(".*") and type_name.startswith(pattern[:-1]):
            return True
    return False


# --- validation ---------------------------------------------------------------------------------------


def _clean(
    *, name: str, event_types_in: Iterable[str], url: str, secret: str | None
) -> tuple[str, list[str], str]:
    errors: list[tuple[str, Any]] = []
    name = (name or "").strip()
    if not name:
        errors.append(("name", _("Give the subscription a name.")))
    elif len(name) > 100:
        errors.append(("name", _("The name may have at most 100 characters.")))
    patterns: list[str] = []
    for raw in event_types_in:
        pattern = str(raw).strip()
        if not pattern or pattern in patterns:
            continue
        if len(pattern) > 100 or not PATTERN_RE.fullmatch(pattern):
            errors.append(
                (
                    "event_types",
                    fmt(
                        _("“%(pattern)s” is not an event type or pattern (a name, prefix.* or *)."),
                        {"pattern": pattern[:80]},
                    ),
                )
            )
            continue
        if "*" not in pattern and pattern not in event_types:
            errors.append(("event_types", fmt(_("Unknown event type: %(type)s."), {"type": pattern})))
            continue
        patterns.append(pattern)
    if not patterns and not any(f == "event_types" for f, _m in errors):
        errors.append(("event_types", _("Choose at least one event type.")))
    if len(patterns) > MAX_PATTERNS:
        errors.append(("event_types", fmt(_("At most %(max)s event types."), {"max": MAX_PATTERNS})))
    url = (url or "").strip()
    if len(url) > 500:
        errors.append(("url", _("The URL may have at most 500 characters.")))
    else:
        try:
            sender.resolve(url)
        except sender.UrlRefused as exc:
            errors.append(("url", fmt(_("This URL is not allowed: %(reason)s"), {"reason": exc.message})))
    if secret is not None and len(secret) < MIN_SECRET:
        errors.append(
            ("secret", fmt(_("The secret needs at least %(min)s characters."), {"min": MIN_SECRET}))
        )
    if errors:
        raise WebhookError(errors[0][1], field=errors[0][0], errors=errors)
    return name, patterns, url


def _target(sub: Subscription) -> tuple[str, int, str]:
    return ("webhooks.subscription", sub.pk, sub.name)


# --- subscriptions --------------------------------------------------------------------------------


@transaction.atomic
def subscription_create(
    *,
    actor: Any,
    name: str,
    event_types: Iterable[str],
    url: str,
    secret: str | None = None,
    enabled: bool = True,
) -> tuple[Subscription, str]:
    """Create a subscription owned by ``actor``; returns it and its secret (generated when none
    is given; shown to the owner once)."""
    _require(actor)
    name, patterns, url = _clean(name=name, event_types_in=event_types, url=url, secret=secret)
    secret = secret or secrets.token_urlsafe(32)
    sub = Subscription.objects.create(
        name=name, event_types=patterns, url=url, secret=secret, owner=actor, enabled=enabled
    )
    forget_subscriptions()
    audit_record(
        actor=actor,
        action="integration.webhook.created",
        target=_target(sub),
        details={"url": url, "event_types": patterns, "enabled": enabled},
    )
    return sub, secret


@transaction.atomic
def subscription_update(
    *,
    actor: Any,
    subscription: Subscription,
    name: str,
    event_types: Iterable[str],
    url: str,
    secret: str | None = None,
) -> Subscription:
    """Change name, event types, URL and (when given) the secret."""
    _require(actor)
    name, patterns, url = _clean(name=name, event_types_in=event_types, url=url, secret=secret)
    sub = Subscription.objects.select_for_update().get(pk=subscription.pk)
    before = {"name": sub.name, "url": sub.url, "event_types": sub.event_types}
    sub.name, sub.event_types, sub.url = name, patterns, url
    if secret:
        sub.secret = secret
    sub.updated_at = timezone.now()
    sub.save()
    forget_subscriptions()
    audit_record(
        actor=actor,
        action="integration.webhook.changed",
        target=_target(sub),
        details={
            "before": before,
            "after": {"name": name, "url": url, "event_types": patterns},
            "secret_changed": bool(secret),
        },
    )
    return sub


@transaction.atomic
def subscription_set_enabled(*, actor: Any, subscription: Subscription, enabled: bool) -> Subscription:
    """Enable (the failure count starts again at 0) or disable a subscription."""
    _require(actor)
    sub = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if sub.enabled == enabled:
        return sub
    sub.enabled = enabled
    sub.updated_at = timezone.now()
    if enabled:
        sub.failure_count = 0
        sub.disabled_at = None
        sub.disabled_reason = ""
    else:
        sub.disabled_at = timezone.now()
        sub.disabled_reason = "disabled by " + actor.get_username()
    sub.save()
    forget_subscriptions()
    audit_record(
        actor=actor,
        action="integration.webhook.enabled" if enabled else "integration.webhook.disabled",
        target=_target(sub),
    )
    return sub


def _event_body(event_id: int | str, type_name: str, created_at: str, actor: str, payload: Any) -> bytes:
    return json.dumps(
        {"id": event_id, "type": type_name, "created_at": created_at, "actor": actor, "payload": payload},
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
    ).encode("utf-8")


def _headers(
    sub: Subscription, body: bytes, *, event_id: str, type_name: str, delivery: str
) -> dict[str, str]:
    return {
        "X-MedOA-Signature": sender.sign(sub.secret, body),
        "X-MedOA-Event-Id": event_id,
        "X-MedOA-Event-Type": type_name,
        "X-MedOA-Delivery": delivery,
    }


def subscription_test_send(*, actor: Any, subscription: Subscription) -> DeliveryAttempt:
    """Send a test event now (``webhooks.test.sent``), outside any transaction, and log the
    attempt (it does not count towards disabling)."""
    _require(actor)
    if connection.in_atomic_block:
        raise RuntimeError("a test send must not run inside a transaction")
    sub = Subscription.objects.get(pk=subscription.pk)
    event_id = f"test-{secrets.token_hex(8)}"
    body = _event_body(
        event_id,
        TEST_EVENT_TYPE,
        timezone.now().isoformat(),
        actor.get_username(),
        {"subscription": sub.pk, "message": "MedOA webhook test"},
    )
    result = sender.post(
        sub.url, body, _headers(sub, body, event_id=event_id, type_name=TEST_EVENT_TYPE, delivery="test")
    )
    with transaction.atomic():
        attempt = DeliveryAttempt.objects.create(
            subscription=sub,
            event_id_sent=event_id,
            status_code=result.status_code,
            duration_ms=result.duration_ms,
            ok=result.ok,
            error=result.error,
            test=True,
        )
        audit_record(
            actor=actor,
            action="integration.webhook.test_sent",
            target=_target(sub),
            details={"status_code": result.status_code, "ok": result.ok, "error": result.error[:300]},
        )
    return attempt


# --- fan-out (the event bus's subscriber) -----------------------------------------------------------

wakeup = threading.Event()


def fan_out(event: Event) -> None:
    """One ``WebhookDelivery`` per enabled subscription that hears ``event.type`` (idempotent:
    a redelivered event adds none twice). Runs in the bus's delivery transaction; sends nothing."""
    hearing = [pk for pk, patterns in _enabled_subscriptions() if matches(patterns, event.type)]
    if not hearing:
        return
    WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(subscription_id=pk, event=event, next_attempt_at=timezone.now()) for pk in hearing],
        ignore_conflicts=True,
    )
    transaction.on_commit(wakeup.set)


# --- sending ----------------------------------------------------------------------------------------


def _claim(claimer: str, limit: int) -> list[int]:
    now = timezone.now()
    with transaction.atomic():
        due = (
            WebhookDelivery.objects.filter(
                status__in=(DeliveryStatus.PENDING, DeliveryStatus.FAILED),
                next_attempt_at__lte=now,
                subscription__enabled=True,
            )
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("next_attempt_at", "id")
        )
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        ids = list(due.values_list("id", flat=True)[:limit])
        if ids:
            WebhookDelivery.objects.filter(id__in=ids).update(
                claimed_by=claimer,
                claimed_until=now + timedelta(seconds=LEASE_SECONDS),
                attempts=F("attempts") + 1,
            )
    return ids


def _disable_for_failures(sub_id: int) -> None:
    """In the caller's transaction: disable the subscription when its consecutive failures reached
    the limit, notify its owner, audit it."""
    sub = Subscription.objects.select_for_update().select_related("owner").get(pk=sub_id)
    limit = max_failures()
    if not sub.enabled or sub.failure_count < limit:
        return
    now = timezone.now()
    sub.enabled = False
    sub.disabled_at = now
    sub.disabled_reason = f"{sub.failure_count} consecutive failed attempts"
    sub.updated_at = now
    sub.save(update_fields=["enabled", "disabled_at", "disabled_reason", "updated_at"])
    forget_subscriptions()
    title = str(fmt(_("Webhook %(name)s disabled"), {"name": sub.name}))
    body = str(
        fmt(
            _(
                "%(count)s attempts in a row to %(url)s failed; the webhook is disabled. "
                "Fix the receiver, then enable it again."
            ),
            {"count": sub.failure_count, "url": sub.url},
        )
    )
    notification_send(
        recipients=[sub.owner],
        title=title,
        body=body,
        link=reverse("webhooks:subscription_detail", args=[sub.pk]),
        kind="alert",
        data={"subscription": sub.pk},
    )
    audit_record(
        actor=None,
        actor_name="system",
        action="integration.webhook.auto_disabled",
        target=_target(sub),
        details={"failures": sub.failure_count, "url": sub.url},
    )


def _record(delivery: WebhookDelivery, claimer: str, result: sender.SendResult) -> None:
    now = timezone.now()
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            subscription_id=delivery.subscription_id,
            delivery=delivery,
            event_id_sent=str(delivery.event_id),
            attempted_at=now,
            status_code=result.status_code,
            duration_ms=result.duration_ms,
            ok=result.ok,
            error=result.error,
        )
        mine = WebhookDelivery.objects.filter(pk=delivery.pk, claimed_by=claimer)
        if result.ok:
            mine.update(
                status=DeliveryStatus.DELIVERED,
                delivered_at=now,
                claimed_by="",
                claimed_until=None,
                last_status_code=result.status_code,
                last_error="",
            )
            Subscription.objects.filter(pk=delivery.subscription_id).update(
                failure_count=0, last_success_at=now
            )
            return
        dead = delivery.attempts >= max_attempts()
        mine.update(
            status=DeliveryStatus.DEAD if dead else DeliveryStatus.FAILED,
            next_attempt_at=now + timedelta(seconds=0 if dead else retry_delay(delivery.attempts)),
            claimed_by="",
            claimed_until=None,
            last_status_code=result.status_code,
            last_error=result.error,
        )
        Subscription.objects.filter(pk=delivery.subscription_id).update(
            failure_count=F("failure_count") + 1, last_failure_at=now
        )
        _disable_for_failures(delivery.subscription_id)


def _send_one(delivery: WebhookDelivery) -> sender.SendResult:
    """The HTTP part (no database access: everything it needs was loaded before)."""
    event = delivery.event
    sub = delivery.subscription
    body = _event_body(event.pk, event.type, event.created_at.isoformat(), event.actor_name, event.payload)
    headers = _headers(sub, body, event_id=str(event.pk), type_name=event.type, delivery=str(delivery.pk))
    return sender.post(sub.url, body, headers)


def deliver_due(*, worker_id: str = "webhooks", limit: int = BATCH) -> int:
    """Claim up to ``limit`` due deliveries, send them (``PARALLEL`` at a time, no transaction
    open), record each outcome; returns how many were claimed."""
    if connection.in_atomic_block:
        raise RuntimeError("webhooks are sent outside any transaction")
    claimer = f"{worker_id}/{secrets.token_hex(4)}"[-100:]
    ids = _claim(claimer, limit)
    if not ids:
        return 0
    deliveries = list(
        WebhookDelivery.objects.filter(id__in=ids, claimed_by=claimer)
        .select_related("event", "subscription")
        .order_by("id")
    )
    for d in deliveries:
        _ = d.subscription.secret  # decrypted here, not in the sending threads
    if len(deliveries) == 1:
        results = [_send_one(deliveries[0])]
    else:
        with ThreadPoolExecutor(max_workers=min(PARALLEL, len(deliveries))) as pool:
            results = list(pool.map(_send_one, deliveries))
    for delivery, result in zip(deliveries, results, strict=True):
        try:
            _record(delivery, claimer, result)
        except Exception:
            log.exception("webhooks: recording delivery #%s failed", delivery.pk)
    return len(ids)


def deliver_until_idle(*, max_rounds: int = 100) -> int:
    """Rounds until nothing is due now (tests, ``--batch`` runs)."""
    total = 0
    for _round in range(max_rounds):
        claimed = deliver_due()
        total += claimed
        if claimed == 0:
            break
    return total
