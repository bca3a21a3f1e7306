"""The dispatcher: a handler runs with marking its delivery done (all or nothing), failures are
retried with backoff then dead, leases run out, lost claims do nothing, delivered never reruns."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from medoa.core.events import dispatcher, publish
from medoa.core.events.dispatcher import (
    _claim,
    dispatch_batch,
    dispatch_until_idle,
    run_claimed,
    running_dispatcher,
)
from medoa.core.events.errors import EventRejected
from medoa.core.events.models import Delivery, Event
from medoa.core.registries import periodic_jobs
from medoa.core.runtime.worker import PeriodicJobsThread

from .conftest import effects, record_effect

PAYLOAD = {"bed": "12", "ward": "W1"}


def _state(delivery_id: int | None = None) -> tuple[str, int, str, bool]:
    d = Delivery.objects.get() if delivery_id is None else Delivery.objects.get(pk=delivery_id)
    return d.status, d.attempts, d.claimed_by, d.claimed_until is not None


def _wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _failing_after_effect(name: str, exc: Exception) -> Callable[[Event], None]:
    effect = record_effect(name)

    def handle(event: Event) -> None:
        effect(event)  # written, then rolled back with the failure
        raise exc

    return handle


@pytest.mark.django_db
def test_each_subscriber_runs_once_and_its_delivery_is_marked(subscribe: Callable[..., Any]) -> None:
    subscribe("testres.housekeeping", ("testres.bed.released",))
    subscribe("testres.everything", ("*",))
    event = publish("testres.bed.released", PAYLOAD)

    assert dispatch_batch(worker_id="w1") == 2
    assert dispatch_batch(worker_id="w1") == 0

    assert effects("testres.housekeeping") == [event.pk]
    assert effects("testres.everything") == [event.pk]
    rows = Delivery.objects.order_by("id").values_list("status", "attempts", "claimed_by", "last_error")
    assert list(rows) == [("delivered", 1, "", ""), ("delivered", 1, "", "")]
    assert all(d.delivered_at is not None for d in Delivery.objects.all())


@pytest.mark.django_db
def test_a_failing_handler_leaves_no_effect_and_is_retried_after_its_backoff(
    subscribe: Callable[..., Any],
) -> None:
    calls: list[int] = []
    broken = _failing_after_effect("testres.housekeeping", ValueError("no bed 12 in W1"))

    def handle(event: Event) -> None:
        calls.append(event.pk)
        if len(calls) == 1:
            broken(event)
        else:
            record_effect("testres.housekeeping")(event)

    subscribe("testres.housekeeping", ("testres.*",), handle=handle)
    event = publish("testres.bed.released", PAYLOAD)
    before = timezone.now()

    dispatch_batch()

    delivery = Delivery.objects.get()
    assert _state() == ("failed", 1, "", False)
    assert "ValueError: no bed 12 in W1" in delivery.last_error
    assert (
        before + timedelta(seconds=4.9) < delivery.next_attempt_at < timezone.now() + timedelta(seconds=5.1)
    )
    assert effects() == []

    assert dispatch_batch() == 0  # not due yet
    Delivery.objects.update(next_attempt_at=timezone.now())
    assert dispatch_batch() == 1

    assert _state() == ("delivered", 2, "", False)
    assert Delivery.objects.get().last_error == ""
    assert effects() == [event.pk]
    assert calls == [event.pk, event.pk]


@pytest.mark.django_db
def test_a_delivery_is_dead_after_the_subscribers_attempts(subscribe: Callable[..., Any]) -> None:
    subscribe(
        "testres.housekeeping",
        ("testres.*",),
        handle=_failing_after_effect("testres.housekeeping", RuntimeError("down")),
        max_attempts=3,
    )
    publish("testres.bed.released", PAYLOAD)

    states = []
    for _ in range(4):
        Delivery.objects.filter(status="failed").update(next_attempt_at=timezone.now())
        dispatch_batch()
        states.append(_state()[:2])

    assert states == [("failed", 1), ("failed", 2), ("dead", 3), ("dead", 3)]
    assert "RuntimeError: down" in Delivery.objects.get().last_error
    assert effects() == []


@pytest.mark.django_db
def test_a_rejected_event_is_dead_at_once(subscribe: Callable[..., Any]) -> None:
    subscribe(
        "testres.housekeeping",
        ("testres.*",),
        handle=_failing_after_effect("testres.housekeeping", EventRejected("bed 12 does not exist")),
    )
    publish("testres.bed.released", PAYLOAD)

    dispatch_batch()

    assert _state() == ("dead", 1, "", False)
    assert "EventRejected: bed 12 does not exist" in Delivery.objects.get().last_error
    assert effects() == []


@pytest.mark.django_db
def test_a_delivered_delivery_never_runs_again(subscribe: Callable[..., Any]) -> None:
    subscribe("testres.housekeeping", ("testres.*",))
    event = publish("testres.bed.released", PAYLOAD)
    dispatch_batch()
    delivery = Delivery.objects.select_related("event").get()

    # Even a stale claim that still names this worker does not run it.
    Delivery.objects.update(claimed_by="w1/stale")
    assert run_claimed([delivery], "w1/stale") == 0
    Delivery.objects.update(claimed_by="", next_attempt_at=timezone.now() - timedelta(hours=1))
    assert dispatch_until_idle() == 0

    assert effects() == [event.pk]


@pytest.mark.django_db
def test_a_lease_that_runs_out_is_claimed_again_and_the_old_claim_does_nothing(
    subscribe: Callable[..., Any],
) -> None:
    subscribe("testres.housekeeping", ("testres.*",))
    event = publish("testres.bed.released", PAYLOAD)

    assert _claim(claimer="w1/dead", limit=10, lease=60) == [Delivery.objects.get().pk]
    assert _state() == ("pending", 1, "w1/dead", True)
    assert dispatch_batch(worker_id="w2") == 0  # leased to w1

    Delivery.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))
    stale = Delivery.objects.select_related("event").get()
    assert dispatch_batch(worker_id="w2") == 1
    assert run_claimed([stale], "w1/dead") == 0  # w1 comes back late: its claim is gone

    assert _state() == ("delivered", 2, "", False)
    assert effects() == [event.pk]


@pytest.mark.django_db
def test_a_delivery_whose_worker_died_every_time_is_dead_without_running(
    subscribe: Callable[..., Any],
) -> None:
    subscribe("testres.housekeeping", ("testres.*",), max_attempts=2)
    publish("testres.bed.released", PAYLOAD)

    for _ in range(2):  # two workers claim it and die
        _claim(claimer="w/dies", limit=10, lease=60)
        Delivery.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))
    dispatch_batch()

    assert _state() == ("dead", 3, "", False)
    assert Delivery.objects.get().last_error == "The worker stopped during each of 2 attempts."
    assert effects() == []


@pytest.mark.django_db
def test_a_delivery_for_a_subscriber_this_worker_does_not_have_waits(subscribe: Callable[..., Any]) -> None:
    subscribe("testres.housekeeping", ("testres.*",))
    publish("testres.bed.released", PAYLOAD)
    Delivery.objects.update(subscriber="testres.renamed")

    dispatch_batch()

    assert _state() == ("failed", 1, "", False)
    assert Delivery.objects.get().last_error == (
        "No subscriber is registered as 'testres.renamed' in this worker."
    )


@pytest.mark.django_db
def test_one_batch_claims_at_most_its_limit_oldest_first(subscribe: Callable[..., Any]) -> None:
    subscribe("testres.housekeeping", ("testres.*",))
    events = [publish("testres.bed.released", {"bed": str(i), "ward": "W1"}) for i in range(5)]

    assert dispatch_batch(limit=3) == 3
    assert effects() == [e.pk for e in events[:3]]
    assert dispatch_until_idle(limit=3) == 2
    assert effects() == [e.pk for e in events]


@pytest.mark.django_db
def test_dispatch_queries_per_delivery(subscribe: Callable[..., Any], django_assert_num_queries: Any) -> None:
    """Claim (select + update) and load: 3 queries (+2 savepoint statements); one chunk: lock the
    rows, mark the done ones delivered (+2 savepoint statements); each delivery: its savepoint (2)."""
    subscribe("testres.housekeeping", ("testres.*",), handle=lambda event: None)
    for i in range(3):
        publish("testres.bed.released", {"bed": str(i), "ward": "W1"})

    with django_assert_num_queries(5 + 4 + 3 * 2):
        assert dispatch_batch() == 3


@pytest.mark.django_db
def test_an_event_published_by_a_handler_records_its_cause(subscribe: Callable[..., Any]) -> None:
    def clean_after_release(event: Event) -> None:
        if event.type == "testres.bed.released":
            publish("testres.bed.cleaned", event.payload)

    subscribe("testres.housekeeping", ("testres.*",), handle=clean_after_release)
    released = publish("testres.bed.released", PAYLOAD)

    dispatch_until_idle()

    cleaned = Event.objects.get(type="testres.bed.cleaned")
    assert (released.cause_id, released.depth) == (None, 0)
    assert (cleaned.cause_id, cleaned.depth) == (released.pk, 1)
    assert publish("testres.bed.cleaned", PAYLOAD).cause_id is None  # outside a handler again
    assert list(Delivery.objects.order_by("id").values_list("event_id", "status")) == [
        (released.pk, "delivered"),
        (cleaned.pk, "delivered"),
        (cleaned.pk + 1, "pending"),
    ]


# --- threads and workers ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_dispatcher_thread_delivers_soon_after_commit(subscribe: Callable[..., Any]) -> None:
    subscribe("testres.housekeeping", ("testres.*",))
    with running_dispatcher(worker_id="t1"):
        time.sleep(0.3)  # let it go idle (waiting for a wake-up)
        event = publish("testres.bed.released", PAYLOAD)
        assert _wait_for(lambda: Delivery.objects.filter(status="delivered").count() == 1)
    delivery = Delivery.objects.get()
    assert delivery.delivered_at is not None and delivery.delivered_at >= event.created_at
    assert effects() == [event.pk]


@pytest.mark.django_db(transaction=True)
def test_three_dispatchers_at_once_run_every_delivery_exactly_once(subscribe: Callable[..., Any]) -> None:
    """Three threads, each with its own connection, drain 60 events × 2 subscribers together."""
    subscribe("testres.housekeeping", ("testres.*",))
    subscribe("testres.everything", ("*",))
    ids = [publish("testres.bed.released", {"bed": str(i), "ward": "W1"}).pk for i in range(60)]
    claimed: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def work(name: str) -> None:
        try:
            start.wait()
            claimed.append(dispatch_until_idle(worker_id=name, limit=7))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)

    assert errors == []
    assert sum(claimed) == 120
    assert effects("testres.housekeeping") == ids
    assert effects("testres.everything") == ids
    assert set(Delivery.objects.values_list("status", "attempts")) == {("delivered", 1)}


@pytest.mark.django_db(transaction=True)
def test_the_workers_periodic_job_runs_a_dispatcher_that_stops_with_the_worker(
    subscribe: Callable[..., Any],
) -> None:
    subscribe("testres.housekeeping", ("testres.*",))
    periodic = PeriodicJobsThread(worker_id="t", jobs=[periodic_jobs.get("events.dispatch")])
    periodic.start()
    try:
        event = publish("testres.bed.released", PAYLOAD)
        assert _wait_for(lambda: Delivery.objects.filter(status="delivered").exists())
        thread = dispatcher._thread
        assert thread is not None and thread.is_alive()
    finally:
        periodic.stop()
    thread.join(5)
    assert not thread.is_alive()
    assert effects() == [event.pk]
