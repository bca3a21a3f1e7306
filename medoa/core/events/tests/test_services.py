"""publish: validated, written in the caller's transaction with one delivery per subscriber,
idempotent by key; redeliver: permission, audit, and only for failed or dead deliveries."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction

from medoa.core.audit.models import AuditEntry
from medoa.core.events import publish
from medoa.core.events.choices import DeliveryStatus
from medoa.core.events.errors import (
    DeliveryNotRedeliverable,
    EventError,
    EventKeyConflict,
    EventPayloadInvalid,
    UnknownEventType,
)
from medoa.core.events.models import Delivery, Event
from medoa.core.events.services import delivery_redeliver, publish_many

PAYLOAD = {"bed": "12", "ward": "W1"}


def _deliveries() -> list[tuple[int, str, str, int]]:
    return list(Delivery.objects.order_by("id").values_list("event_id", "subscriber", "status", "attempts"))


@pytest.mark.django_db
def test_publish_writes_the_event_and_one_pending_delivery_per_subscriber(
    subscribe: Callable[..., Any], people: SimpleNamespace
) -> None:
    subscribe("testres.housekeeping", ("testres.bed.released",))
    subscribe("testres.everything", ("testres.*",))
    subscribe("testres.cleaned_only", ("testres.bed.cleaned",))

    event = publish("testres.bed.released", PAYLOAD, actor=people.nurse.user)

    stored = Event.objects.get()
    assert (stored.pk, stored.type, stored.payload, stored.key) == (
        event.pk,
        "testres.bed.released",
        {"bed": "12", "ward": "W1", "clean_minutes": 30},
        None,
    )
    assert (stored.actor_id, stored.actor_name) == (people.nurse.user.pk, "nurse_li")
    assert _deliveries() == [
        (event.pk, "testres.housekeeping", "pending", 0),
        (event.pk, "testres.everything", "pending", 0),
    ]


@pytest.mark.django_db
def test_publish_many_writes_the_events_in_order_with_their_deliveries_in_two_inserts(
    subscribe: Callable[..., Any], people: SimpleNamespace, django_assert_max_num_queries: Any
) -> None:
    subscribe("testres.housekeeping", ("testres.bed.released",))
    subscribe("testres.everything", ("testres.*",))

    with django_assert_max_num_queries(3):  # events, deliveries (and NOTIFY on PostgreSQL)
        events = publish_many(
            [
                ("testres.bed.released", {"bed": "1", "ward": "W1"}),
                ("testres.bed.cleaned", {"bed": "2", "ward": "W1", "clean_minutes": 5}),
                ("testres.bed.released", {"bed": "3", "ward": "W2"}),
            ],
            actor=people.nurse.user,
        )

    stored = list(Event.objects.order_by("id").values_list("id", "type", "payload", "actor_name", "depth"))
    assert [e.pk for e in events] == [row[0] for row in stored]
    assert [row[1:] for row in stored] == [
        ("testres.bed.released", {"bed": "1", "ward": "W1", "clean_minutes": 30}, "nurse_li", 0),
        ("testres.bed.cleaned", {"bed": "2", "ward": "W1", "clean_minutes": 5}, "nurse_li", 0),
        ("testres.bed.released", {"bed": "3", "ward": "W2", "clean_minutes": 30}, "nurse_li", 0),
    ]
    first, second, third = (e.pk for e in events)
    assert _deliveries() == [
        (first, "testres.housekeeping", "pending", 0),
        (first, "testres.everything", "pending", 0),
        (second, "testres.everything", "pending", 0),
        (third, "testres.housekeeping", "pending", 0),
        (third, "testres.everything", "pending", 0),
    ]


@pytest.mark.django_db
def test_publish_many_with_one_bad_payload_writes_nothing(subscribe: Callable[..., Any]) -> None:
    subscribe("testres.housekeeping", ("testres.bed.released",))

    with pytest.raises(EventPayloadInvalid):
        publish_many([("testres.bed.released", PAYLOAD), ("testres.bed.released", {"bed": ""})])
    with pytest.raises(UnknownEventType):
        publish_many([("testres.bed.released", PAYLOAD), ("testres.no.such", PAYLOAD)])

    assert (Event.objects.count(), Delivery.objects.count()) == (0, 0)
    assert publish_many([]) == []


@pytest.mark.django_db
def test_publish_with_no_subscriber_stores_the_event_only(bus_types: None) -> None:
    event = publish("testres.bed.released", PAYLOAD, actor_name="system:his")
    assert Event.objects.get().actor_name == "system:his"
    assert event.actor_id is None
    assert Delivery.objects.count() == 0


@pytest.mark.django_db
def test_publish_is_part_of_the_callers_transaction(subscribe: Callable[..., Any]) -> None:
    subscribe("testres.housekeeping", ("testres.*",))

    with pytest.raises(RuntimeError), transaction.atomic():
        publish("testres.bed.released", PAYLOAD)
        assert Event.objects.count() == 1
        raise RuntimeError("the caller's change failed")

    assert Event.objects.count() == 0
    assert Delivery.objects.count() == 0


@pytest.mark.django_db
def test_unknown_type_and_bad_payload_write_nothing(subscribe: Callable[..., Any]) -> None:
    subscribe("testres.housekeeping", ("testres.*",))

    with pytest.raises(UnknownEventType):
        publish("testres.bed.exploded", PAYLOAD)
    with pytest.raises(EventPayloadInvalid) as caught:
        publish("testres.bed.released", {"bed": "12"})

    assert [e["field"] for e in caught.value.errors] == ["payload.ward"]
    assert Event.objects.count() == 0
    assert Delivery.objects.count() == 0


@pytest.mark.django_db
def test_the_same_key_gives_the_same_event_and_no_second_delivery(subscribe: Callable[..., Any]) -> None:
    subscribe("testres.housekeeping", ("testres.*",))

    first = publish("testres.bed.released", PAYLOAD, key="his:adt:0001")
    again = publish(
        "testres.bed.released", {"ward": "W1", "bed": "12", "clean_minutes": 30}, key="his:adt:0001"
    )

    assert again.pk == first.pk
    assert Event.objects.count() == 1
    assert _deliveries() == [(first.pk, "testres.housekeeping", "pending", 0)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("type_", "payload"),
    [("testres.bed.cleaned", PAYLOAD), ("testres.bed.released", {"bed": "13", "ward": "W1"})],
)
def test_the_same_key_for_another_event_is_a_conflict(
    subscribe: Callable[..., Any], type_: str, payload: dict[str, Any]
) -> None:
    subscribe("testres.housekeeping", ("testres.*",))
    first = publish("testres.bed.released", PAYLOAD, key="his:adt:0001")

    with pytest.raises(EventKeyConflict) as caught:
        publish(type_, payload, key="his:adt:0001")

    assert caught.value.field == "key"
    assert caught.value.params == {"type": "testres.bed.released", "id": first.pk}
    assert Event.objects.count() == 1
    assert Delivery.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 201, "line\nbreak"])
def test_bad_keys_are_refused(bus_types: None, key: str) -> None:
    with pytest.raises(EventError) as caught:
        publish("testres.bed.released", PAYLOAD, key=key)
    assert caught.value.field == "key"
    assert Event.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_publishes_with_one_key_make_one_event(subscribe: Callable[..., Any]) -> None:
    """Eight threads publish the same key at once: one event, one delivery, every caller gets its id."""
    subscribe("testres.housekeeping", ("testres.*",))
    barrier = threading.Barrier(8)
    ids: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                ids.append(publish("testres.bed.released", PAYLOAD, key="his:adt:race").pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert errors == []
    assert len(ids) == 8 and len(set(ids)) == 1
    assert Event.objects.count() == 1
    assert Delivery.objects.count() == 1


# --- redeliver -------------------------------------------------------------------------------------


def _delivery_in(status: str, subscribe: Callable[..., Any]) -> Delivery:
    subscribe("testres.housekeeping", ("testres.*",))
    publish("testres.bed.released", PAYLOAD)
    Delivery.objects.update(status=status, attempts=8, last_error="Traceback …\nValueError: no bed 12")
    return Delivery.objects.get()


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["failed", "dead"])
def test_redeliver_queues_it_again_and_audits(
    subscribe: Callable[..., Any], people: SimpleNamespace, status: str
) -> None:
    delivery = _delivery_in(status, subscribe)

    delivery_redeliver(actor=people.admin.user, delivery=delivery)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.claimed_by, delivery.claimed_until) == (
        "pending",
        0,
        "",
        None,
    )
    entry = AuditEntry.objects.get(action="events.delivery.redelivered")
    assert (entry.actor_id, entry.target_type, entry.target_id) == (
        people.admin.user.pk,
        "events.delivery",
        str(delivery.pk),
    )
    assert entry.details == {
        "event": delivery.event_id,
        "event_type": "testres.bed.released",
        "subscriber": "testres.housekeeping",
        "previous_status": status,
        "previous_attempts": 8,
        "last_error": "Traceback …\nValueError: no bed 12",
    }


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["pending", "delivered"])
def test_redeliver_refuses_pending_and_delivered(
    subscribe: Callable[..., Any], people: SimpleNamespace, status: str
) -> None:
    delivery = _delivery_in(status, subscribe)

    with pytest.raises(DeliveryNotRedeliverable):
        delivery_redeliver(actor=people.admin.user, delivery=delivery)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (status, 8)
    assert not AuditEntry.objects.filter(action="events.delivery.redelivered").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["it", "nurse"])
def test_redeliver_needs_the_permission(
    subscribe: Callable[..., Any], people: SimpleNamespace, who: str
) -> None:
    delivery = _delivery_in(DeliveryStatus.DEAD, subscribe)

    with pytest.raises(PermissionDenied):
        delivery_redeliver(actor=getattr(people, who).user, delivery=delivery)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("dead", 8)
    assert not AuditEntry.objects.filter(action="events.delivery.redelivered").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_transaction_of_many_events_notifies_once_and_a_rolled_back_savepoint_notifies_again(
    subscribe: Callable[..., Any],
) -> None:
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("NOTIFY is PostgreSQL's")
    subscribe("testres.housekeeping", ("testres.bed.released",))

    def notifies(captured: CaptureQueriesContext) -> int:
        return sum("pg_notify" in q["sql"] for q in captured.captured_queries)

    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        for _ in range(5):
            publish("testres.bed.released", PAYLOAD)
        queries_of_five = len(captured.captured_queries)
    assert notifies(captured) == 1
    assert queries_of_five <= 5 * 2 + 2  # an event and its deliveries each, one notify (was 25)

    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        try:
            with transaction.atomic():
                publish("testres.bed.released", PAYLOAD)
                raise RuntimeError("undo this savepoint")
        except RuntimeError:
            pass
        publish("testres.bed.released", PAYLOAD)  # the first NOTIFY went with its savepoint
    assert notifies(captured) == 2
    assert Event.objects.count() == 6
