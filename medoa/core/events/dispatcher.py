"""Delivering the outbox: claim due deliveries, run each subscriber's handler, record the outcome.

``dispatch_batch`` is one round: it claims up to ``limit`` due deliveries in a short transaction
(``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers take disjoint rows; SQLite
serialises writers) by writing a lease (``claimed_by``, ``claimed_until``) and counting the attempt.
Then the claimed deliveries run in chunked transactions (``run_claimed``): the rows are locked
again, each handler runs in a savepoint, and the successful ones are marked ``delivered`` in the
same transaction — a handler's writes and its "delivered" commit together or not at all. A handler
that raises rolls back its own writes (its savepoint); the delivery becomes ``failed`` with a
retry time (``dead`` after the subscriber's ``max_attempts``, or at once for ``EventRejected``).
A worker killed mid-batch leaves its leases to run out; the deliveries it had not finished are then
claimed again by whoever polls next.

``DispatcherThread`` repeats rounds in a worker process: at once while there is work, otherwise it
waits for a wake-up (PostgreSQL ``LISTEN``, or the in-process event) or its poll interval.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from .causation import handling
from .choices import DUE_STATUSES, DeliveryStatus
from .errors import EventRejected
from .models import Delivery
from .registry import DEFAULT_MAX_ATTEMPTS, retry_delay, subscribers
from .wakeup import CHANNEL, Listener, listening, local_wakeup, open_listener

logger = logging.getLogger("medoa.events")

BATCH = 100
LEASE_SECONDS = 60.0
POLL_SECONDS_LISTENING = 1.0  # PostgreSQL with LISTEN: only retries and missed wake-ups wait this long
POLL_SECONDS = 0.25  # SQLite, or PostgreSQL without LISTEN
MAX_ERROR = 4000
CHUNK_SECONDS = 0.2  # at most this long in one delivery transaction (SQLite's write lock)


def _claim(*, claimer: str, limit: int, lease: float) -> list[int]:
    now = timezone.now()
    with transaction.atomic():
        due = (
            Delivery.objects.filter(status__in=DUE_STATUSES, next_attempt_at__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("next_attempt_at", "id")
        )
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("id", flat=True)[:limit])
        if ids:
            Delivery.objects.filter(id__in=ids).update(
                claimed_by=claimer,
                claimed_until=now + timedelta(seconds=lease),
                attempts=F("attempts") + 1,
            )
    return ids


def _finish(delivery: Delivery, claimer: str, **fields: Any) -> None:
    """Record the outcome of this claim (unless the claim was lost meanwhile)."""
    Delivery.objects.filter(pk=delivery.pk, claimed_by=claimer).update(
        claimed_by="", claimed_until=None, **fields
    )


def _failed(delivery: Delivery, claimer: str, error: str, *, dead: bool, delay: float) -> None:
    status = DeliveryStatus.DEAD if dead else DeliveryStatus.FAILED
    next_at = timezone.now() + timedelta(seconds=0 if dead else delay)
    _finish(delivery, claimer, status=status, last_error=error[-MAX_ERROR:], next_attempt_at=next_at)
    log = logger.error if dead else logger.warning
    log("event #%s → %s: attempt %s %s", delivery.event_id, delivery.subscriber, delivery.attempts, status)


def _handle(delivery: Delivery) -> tuple[str, bool, float] | None:
    """Run the delivery's handler in a savepoint: ``None`` when it succeeded, else
    ``(error, dead, retry delay)`` (its writes are rolled back)."""
    subscriber = subscribers.get(delivery.subscriber)
    if subscriber is None:
        error = f"No subscriber is registered as {delivery.subscriber!r} in this worker."
        return error, delivery.attempts >= DEFAULT_MAX_ATTEMPTS, retry_delay(delivery.attempts)
    if delivery.attempts > subscriber.max_attempts:
        # Earlier attempts never reported back: the worker died while running them.
        stopped = f"The worker stopped during each of {subscriber.max_attempts} attempts."
        return delivery.last_error or stopped, True, 0.0
    try:
        with transaction.atomic(), handling(delivery.event):
            subscriber.handle(delivery.event)
    except EventRejected:
        return traceback.format_exc(), True, 0.0
    except Exception:
        dead = delivery.attempts >= subscriber.max_attempts
        return traceback.format_exc(), dead, subscriber.retry_delay(delivery.attempts)
    return None


def run_claimed(deliveries: list[Delivery], claimer: str, *, chunk_seconds: float = CHUNK_SECONDS) -> int:
    """Run deliveries claimed by ``claimer``; returns how many were delivered.

    They run in chunks: one transaction locks the rows this claim still owns (``FOR UPDATE`` on
    PostgreSQL: a worker whose lease ran out cannot have them taken over while it runs them), runs
    each handler in a savepoint, marks the successful ones delivered and records the failures, and
    commits — the handlers' writes and "delivered" together. A chunk ends after ``chunk_seconds``
    (SQLite holds its write lock for a chunk), the rest go in the next one. A delivery this claim no
    longer owns (delivered, or claimed again by another worker) is skipped.
    """
    delivered = 0
    rest = sorted(deliveries, key=lambda d: d.pk)
    while rest:
        deadline = time.monotonic() + chunk_seconds
        with transaction.atomic():
            owned_qs = Delivery.objects.filter(
                pk__in=[d.pk for d in rest], claimed_by=claimer, status__in=DUE_STATUSES
            ).order_by("id")
            if connection.features.has_select_for_update:
                owned_qs = owned_qs.select_for_update()
            owned = set(owned_qs.values_list("id", flat=True))
            done: list[int] = []
            failures: list[tuple[Delivery, tuple[str, bool, float]]] = []
            ran = 0
            for delivery in rest:
                ran += 1
                if delivery.pk not in owned:
                    continue
                outcome = _handle(delivery)
                if outcome is None:
                    done.append(delivery.pk)
                else:
                    failures.append((delivery, outcome))
                if time.monotonic() > deadline:
                    break
            if done:
                Delivery.objects.filter(pk__in=done).update(
                    status=DeliveryStatus.DELIVERED,
                    delivered_at=timezone.now(),
                    claimed_by="",
                    claimed_until=None,
                    last_error="",
                )
            for delivery, (error, dead, delay) in failures:
                _failed(delivery, claimer, error, dead=dead, delay=delay)
        delivered += len(done)
        rest = rest[ran:]
    return delivered


def dispatch_batch(*, worker_id: str = "", limit: int = BATCH, lease: float = LEASE_SECONDS) -> int:
    """Claim and run up to ``limit`` due deliveries; returns how many were claimed."""
    claimer = f"{worker_id or 'dispatcher'}/{secrets.token_hex(4)}"[-100:]
    ids = _claim(claimer=claimer, limit=limit, lease=lease)
    if not ids:
        return 0
    claimed = Delivery.objects.filter(id__in=ids, claimed_by=claimer).select_related("event")
    run_claimed(list(claimed), claimer)
    return len(ids)


def dispatch_until_idle(*, worker_id: str = "", limit: int = BATCH, max_rounds: int = 1000) -> int:
    """Rounds until nothing is due (for tests, benchmarks and ``--batch`` runs)."""
    total = 0
    for _ in range(max_rounds):
        claimed = dispatch_batch(worker_id=worker_id, limit=limit)
        total += claimed
        if claimed == 0:
            break
    return total


# --- the worker's thread ---------------------------------------------------------------------------


class DispatcherThread(threading.Thread):
    """Runs dispatch rounds until ``stop()`` — or until ``parent`` (the thread that started it)
    has ended, so that a worker's periodic-jobs thread takes it down with it."""

    def __init__(
        self,
        *,
        worker_id: str,
        limit: int = BATCH,
        parent: threading.Thread | None = None,
        listen: bool | None = None,
    ) -> None:
        super().__init__(name=f"events-{worker_id}", daemon=True)
        self.worker_id = worker_id
        self.limit = limit
        self.parent = parent
        self.listen = listen
        self._stopping = threading.Event()

    def _should_run(self) -> bool:
        return not self._stopping.is_set() and (self.parent is None or self.parent.is_alive())

    def _listener(self) -> Listener | None:
        wanted = self.listen if self.listen is not None else getattr(settings, "MEDOA_EVENTS_LISTEN", True)
        return open_listener(CHANNEL, wanted=wanted, log=logger, label="events", poll=POLL_SECONDS)

    def _wait(self, listener: Listener | None) -> None:
        if listener is None:
            local_wakeup.wait(POLL_SECONDS)
            local_wakeup.clear()
            return
        # Short slices, so that stop() and the parent's end are noticed quickly.
        listener.wait_while(POLL_SECONDS_LISTENING, self._should_run)

    def run(self) -> None:
        listening(+1)
        listener = self._listener()
        try:
            while self._should_run():
                close_old_connections()
                try:
                    claimed = dispatch_batch(worker_id=self.worker_id, limit=self.limit)
                except DatabaseError:
                    logger.exception("events: dispatch round failed")
                    claimed = 0
                    self._stopping.wait(1.0)
                if claimed < self.limit and self._should_run():
                    try:
                        self._wait(listener)
                    except Exception:
                        logger.exception("events: LISTEN connection lost; polling")
                        if listener is not None:
                            listener.close()
                        listener = None
        finally:
            listening(-1)
            if listener is not None:
                listener.close()
            connection.close()  # this thread's own connection

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        local_wakeup.set()
        if self.is_alive():
            self.join(timeout)


_thread: DispatcherThread | None = None
_thread_lock = threading.Lock()


def dispatch_job() -> int:
    """The worker's periodic job (``events.dispatch``): keeps this process's dispatcher thread
    running (started on the first turn, started again should it have died). Returns 0: the
    deliveries are counted by the thread."""
    global _thread
    with _thread_lock:
        if _thread is None or not _thread.is_alive():
            worker_id = f"{socket.gethostname()[:50]}:{os.getpid()}"
            _thread = DispatcherThread(worker_id=worker_id, parent=threading.current_thread())
            _thread.start()
    return 0


@contextmanager
def running_dispatcher(**kwargs: Any) -> Iterator[DispatcherThread]:
    """A dispatcher thread for the duration of a ``with`` block (tests, benchmarks)."""
    thread = DispatcherThread(worker_id=kwargs.pop("worker_id", "test"), **kwargs)
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()


__all__ = [
    "DispatcherThread",
    "dispatch_batch",
    "dispatch_job",
    "dispatch_until_idle",
    "run_claimed",
    "running_dispatcher",
]
