"""End to end in worker threads: the event bus's dispatcher fans an event out, the webhook sender
thread posts it to a real HTTP server — without anyone calling a function by hand."""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from medoa.core.events import publish
from medoa.core.events.dispatcher import running_dispatcher
from medoa.core.org.models import Staff
from medoa.integration.webhooks import services
from medoa.integration.webhooks.models import WebhookDelivery
from medoa.integration.webhooks.worker import SenderThread

from .conftest import PING, Receiver

pytestmark = pytest.mark.django_db(transaction=True)


def test_published_event_reaches_the_receiver_through_the_worker_threads(
    it_staff: Staff, receiver: Receiver
) -> None:
    services.subscription_create(actor=it_staff.user, name="board", event_types=[PING.name], url=receiver.url)
    sender = SenderThread(worker_id="test")
    sender.start()
    try:
        with running_dispatcher(worker_id="test"):
            with transaction.atomic():
                event = publish(PING.name, {"n": 42})
            deadline = time.monotonic() + 20
            while not receiver.requests and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        sender.stop()
    assert [r.headers["X-MedOA-Event-Id"] for r in receiver.requests] == [str(event.pk)]
    assert WebhookDelivery.objects.get().status == "delivered"
