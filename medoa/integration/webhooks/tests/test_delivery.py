"""Delivery against a real HTTP server on loopback: the signature and headers, at least once
through the outbox, retries with backoff, a dead delivery, a subscription disabled after repeated
failures and its owner notified — and never sending inside a transaction."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from django.db import transaction

from medoa.core.audit.models import AuditEntry
from medoa.core.events import publish
from medoa.core.events.dispatcher import dispatch_until_idle
from medoa.core.events.models import Delivery as BusDelivery
from medoa.core.notify.models import Notification
from medoa.core.org.models import Staff
from medoa.integration.webhooks import services
from medoa.integration.webhooks.models import DeliveryAttempt, Subscription, WebhookDelivery

from .conftest import OTHER, PING, Receiver

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "s3cret-s3cret-s3cret"


def _subscribe(staff: Staff, url: str, *types: str) -> Subscription:
    sub, secret = services.subscription_create(
        actor=staff.user, name="bed board", event_types=types or (PING.name,), url=url, secret=SECRET
    )
    assert secret == SECRET
    return sub


def _publish(n: int = 1, type_name: str = PING.name) -> int:
    with transaction.atomic():
        return publish(type_name, {"n": n}).pk


def test_the_event_is_posted_signed_with_its_id(it_staff: Staff, receiver: Receiver) -> None:
    sub = _subscribe(it_staff, receiver.url)
    event_id = _publish(7)
    _publish(8, OTHER.name)  # not subscribed
    assert BusDelivery.objects.filter(subscriber="webhooks.fan_out").count() == 2
    dispatch_until_idle()
    assert WebhookDelivery.objects.count() == 1
    assert services.deliver_until_idle() == 1
    assert len(receiver.requests) == 1
    got = receiver.requests[0]
    assert got.path == "/hook?x=1"
    expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-MedOA-Signature"] == expected
    assert got.headers["X-MedOA-Event-Id"] == str(event_id)
    assert got.headers["X-MedOA-Event-Type"] == PING.name
    assert got.headers["Content-Type"] == "application/json"
    body = json.loads(got.body)
    assert (body["id"], body["type"], body["payload"]) == (event_id, PING.name, {"n": 7})
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    attempt = DeliveryAttempt.objects.get()
    assert (attempt.ok, attempt.status_code, attempt.event_id_sent) == (True, 200, str(event_id))
    assert attempt.duration_ms >= 0
    sub.refresh_from_db()
    assert sub.failure_count == 0 and sub.last_success_at is not None


def test_the_fan_out_is_idempotent(it_staff: Staff, receiver: Receiver) -> None:
    _subscribe(it_staff, receiver.url)
    event_id = _publish()
    from medoa.core.events.models import Event

    event = Event.objects.get(pk=event_id)
    with transaction.atomic():
        services.fan_out(event)
        services.fan_out(event)
    assert WebhookDelivery.objects.count() == 1


def test_failures_are_retried_with_backoff_then_delivered(
    it_staff: Staff, receiver: Receiver, settings: Any
) -> None:
    sub = _subscribe(it_staff, receiver.url)
    receiver.statuses = [500, 503]
    _publish()
    dispatch_until_idle()
    assert services.deliver_until_idle() == 3
    assert [a.status_code for a in DeliveryAttempt.objects.order_by("id")] == [500, 503, 200]
    assert len({r.headers["X-MedOA-Event-Id"] for r in receiver.requests}) == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    sub.refresh_from_db()
    assert sub.failure_count == 0
    assert services.retry_delay(1) == 0
    settings.MEDOA_WEBHOOKS_RETRY_BASE_SECONDS = 10
    assert [services.retry_delay(n) for n in (1, 2, 3, 20)] == [10, 20, 40, 3600]


def test_a_failed_delivery_waits_for_its_backoff(it_staff: Staff, receiver: Receiver, settings: Any) -> None:
    settings.MEDOA_WEBHOOKS_RETRY_BASE_SECONDS = 60
    _subscribe(it_staff, receiver.url)
    receiver.statuses = [500]
    _publish()
    dispatch_until_idle()
    assert services.deliver_until_idle() == 1  # tried once, not again within the minute
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed"
    assert 55 <= (delivery.next_attempt_at - delivery.created_at).total_seconds() <= 65
    assert "HTTP 500" in delivery.last_error


def test_a_delivery_gives_up_after_max_attempts(it_staff: Staff, receiver: Receiver, settings: Any) -> None:
    settings.MEDOA_WEBHOOKS_MAX_ATTEMPTS = 3
    _subscribe(it_staff, receiver.url)
    receiver.statuses = [500] * 10
    _publish()
    dispatch_until_idle()
    services.deliver_until_idle()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("dead", 3)
    assert len(receiver.requests) == 3


def test_repeated_failure_disables_and_notifies_the_owner(
    it_staff: Staff, receiver: Receiver, settings: Any
) -> None:
    settings.MEDOA_WEBHOOKS_MAX_FAILURES = 4
    settings.MEDOA_WEBHOOKS_MAX_ATTEMPTS = 3
    sub = _subscribe(it_staff, receiver.url)
    receiver.statuses = [500] * 20
    for n in range(3):
        _publish(n)
    dispatch_until_idle()
    services.deliver_until_idle()
    sub.refresh_from_db()
    assert sub.enabled is False
    # deliveries run 4 at a time: those already in flight when the 4th failure came are counted too
    assert 4 <= sub.failure_count <= 6
    assert "4 consecutive" in sub.disabled_reason
    sent = len(receiver.requests)
    assert sent == sub.failure_count
    assert services.deliver_until_idle() == 0  # nothing more once disabled
    assert len(receiver.requests) == sent
    note = Notification.objects.get(recipient=it_staff.user)
    assert note.kind == "alert"
    assert sub.name in note.title
    assert note.link == f"/integration/webhooks/{sub.pk}/"
    assert AuditEntry.objects.filter(action="integration.webhook.auto_disabled").count() == 1
    # the waiting deliveries stay, and go out once the owner enables it again
    waiting = WebhookDelivery.objects.filter(status__in=("pending", "failed")).count()
    assert waiting >= 1
    receiver.statuses = []
    services.subscription_set_enabled(actor=it_staff.user, subscription=sub, enabled=True)
    services.deliver_until_idle()
    assert WebhookDelivery.objects.filter(status__in=("pending", "failed")).count() == 0
    sub.refresh_from_db()
    assert (sub.enabled, sub.failure_count) == (True, 0)


def test_a_disabled_subscription_gets_no_new_deliveries(it_staff: Staff, receiver: Receiver) -> None:
    sub = _subscribe(it_staff, receiver.url)
    services.subscription_set_enabled(actor=it_staff.user, subscription=sub, enabled=False)
    _publish()
    dispatch_until_idle()
    assert not WebhookDelivery.objects.exists()


def test_an_unreachable_receiver_is_a_logged_failure(it_staff: Staff, receiver: Receiver) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _subscribe(it_staff, f"http://127.0.0.1:{port}/gone")
    _publish()
    dispatch_until_idle()
    services.deliver_due()
    attempt = DeliveryAttempt.objects.get()
    assert attempt.ok is False and attempt.status_code is None
    assert "ConnectionRefused" in attempt.error


def test_never_sent_inside_a_transaction(it_staff: Staff) -> None:
    with transaction.atomic(), pytest.raises(RuntimeError):
        services.deliver_due()


def test_a_test_send_is_logged_and_signed(it_staff: Staff, receiver: Receiver) -> None:
    sub = _subscribe(it_staff, receiver.url)
    attempt = services.subscription_test_send(actor=it_staff.user, subscription=sub)
    assert (attempt.ok, attempt.test, attempt.status_code) == (True, True, 200)
    got = receiver.requests[0]
    assert got.headers["X-MedOA-Event-Type"] == "webhooks.test.sent"
    assert (
        got.headers["X-MedOA-Signature"]
        == "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    )
